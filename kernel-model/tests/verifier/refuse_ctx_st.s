# expect: refuse BPF_ST stores into R1 ctx is not allowed
stdw [%r1+0], 1
mov %r0, 0
exit
