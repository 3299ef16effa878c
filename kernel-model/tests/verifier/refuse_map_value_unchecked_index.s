# expect: refuse invalid access to map value, value_size=64 off=64 size=8
# map: array 4 64 1
ldxdw %r6, [%r1+0]
stw [%r10-4], 0
lddw %r1, map_fd 1
mov %r2, %r10
add %r2, -4
call 1
jeq %r0, 0, out
jgt %r6, 8, out
lsh %r6, 3
add %r0, %r6
ldxdw %r0, [%r0+0]
out:
mov %r0, 0
exit
