# expect: refuse invalid read from stack off -8+0 size 8
ldxdw %r0, [%r10-8]
exit
