# expect: accept
# prog: raw_tp
ldxdw %r0, [%r1+88]
exit
