# expect: accept
stdw [%r10-16], 0
stdw [%r10-8], 0
mov %r6, %r1
ldxdw %r2, [%r6+8]
and %r2, 15
mov %r1, %r10
add %r1, -16
ldxdw %r3, [%r6+0]
call 113
mov %r0, 0
exit
