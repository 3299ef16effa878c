# expect: refuse R2 min value is negative, either use unsigned or 'var &= const'
mov %r6, %r1
ldxdw %r2, [%r6+0]
mov %r1, %r10
add %r1, -8
mov %r3, 0
call 113
exit
