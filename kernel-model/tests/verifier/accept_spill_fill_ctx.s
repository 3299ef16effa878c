# expect: accept
stxdw [%r10-8], %r1
ldxdw %r2, [%r10-8]
ldxdw %r0, [%r2+8]
exit
