# expect: accept
ldxdw %r0, [%r1+160]
exit
