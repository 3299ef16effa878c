# expect: refuse invalid bpf_context access off=336 size=8
# isa: aarch64
ldxdw %r0, [%r1+336]
exit
