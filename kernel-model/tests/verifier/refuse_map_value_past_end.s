# expect: refuse invalid access to map value, value_size=8 off=8 size=8
# map: hash 4 8 16
stw [%r10-4], 0
lddw %r1, map_fd 1
mov %r2, %r10
add %r2, -4
call 1
jeq %r0, 0, out
ldxdw %r0, [%r0+8]
out:
exit
