# expect: refuse invalid bpf_context access off=168 size=8
ldxdw %r0, [%r1+168]
exit
