# expect: accept
ldxdw %r2, [%r1+0]
jeq %r2, 0, +2
mov %r0, 1
ja +1
mov %r0, 2
exit
