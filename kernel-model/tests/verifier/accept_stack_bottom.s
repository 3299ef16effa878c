# expect: accept
stdw [%r10-512], 5
ldxdw %r0, [%r10-512]
exit
