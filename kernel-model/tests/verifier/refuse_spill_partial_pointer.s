# expect: refuse invalid size of register spill
stxw [%r10-8], %r1
mov %r0, 0
exit
