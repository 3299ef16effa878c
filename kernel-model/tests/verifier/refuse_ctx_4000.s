# expect: refuse invalid bpf_context access off=4000 size=8
ldxdw %r0, [%r1+4000]
exit
