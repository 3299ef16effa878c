mov %r1, 2593
stxh [%r10-8], %r1
lddw %r1, 0x646e614c72756f59
stxdw [%r10-16], %r1
lddw %r1, 0x2073692065726548
stxdw [%r10-24], %r1
mov %r1, 0
stxb [%r10-6], %r1
mov %r1, %r10
add %r1, -24
mov %r2, 19
call 6
mov %r0, 0
exit
