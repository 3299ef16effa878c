# expect 5.10: refuse invalid indirect read from stack off -16+0 size 15
# expect 6.12: refuse invalid indirect read from stack R1 off -16+0 size 15
mov %r6, %r1
ldxdw %r2, [%r6+8]
and %r2, 15
mov %r1, %r10
add %r1, -16
ldxdw %r3, [%r6+0]
call 113
mov %r0, 0
exit
