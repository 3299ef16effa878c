# expect: refuse invalid bpf_context access off=0 size=8
stxdw [%r1+0], %r1
mov %r0, 0
exit
