# expect 5.10: refuse invalid stack off=8 size=8
# expect 6.12: refuse invalid read from stack R10 off=8 size=8
ldxdw %r0, [%r10+8]
exit
