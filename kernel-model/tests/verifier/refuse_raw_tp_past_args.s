# expect: refuse invalid bpf_context access off=96 size=8
# prog: raw_tp
ldxdw %r0, [%r1+96]
exit
