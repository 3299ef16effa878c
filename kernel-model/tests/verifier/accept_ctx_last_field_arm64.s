# expect: accept
# isa: aarch64
ldxdw %r0, [%r1+328]
exit
