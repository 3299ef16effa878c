# expect: refuse invalid read from stack off -8+4 size 8
stw [%r10-8], 0
ldxdw %r0, [%r10-8]
exit
