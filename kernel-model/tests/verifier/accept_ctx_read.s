# expect: accept
ldxdw %r0, [%r1+0]
exit
