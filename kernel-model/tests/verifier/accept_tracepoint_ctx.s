# expect: accept
# prog: tracepoint
ldxdw %r0, [%r1+8]
exit
