# expect: accept
mov %r6, %r1
mov %r1, %r10
add %r1, -16
mov %r2, 16
ldxdw %r3, [%r6+0]
call 113
mov %r0, 0
exit
