mov %r0, 0
ldxdw %r0, [%r1+336]
exit