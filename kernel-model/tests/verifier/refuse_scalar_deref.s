# expect 5.10: refuse R2 invalid mem access 'inv'
# expect 6.12: refuse R2 invalid mem access 'scalar'
mov %r2, 0
ldxdw %r0, [%r2+0]
exit
