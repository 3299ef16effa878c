# expect: refuse invalid bpf_context access off=0 size=8
# prog: tracepoint
ldxdw %r0, [%r1+0]
exit
