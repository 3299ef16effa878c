# expect: refuse dereference of modified ctx ptr R1 off=8 disallowed
add %r1, 8
ldxdw %r0, [%r1+0]
exit
