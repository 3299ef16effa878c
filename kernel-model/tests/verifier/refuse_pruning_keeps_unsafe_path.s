# expect: refuse invalid access to map value, value_size=64 off=100 size=1
# map: array 4 64 1
# The safe path (r6 = 0) is explored first; the state it leaves must not prune the unsafe one (r6 = 100).
ldxdw %r2, [%r1+0]
mov %r6, 100
jeq %r2, 0, +1
mov %r6, 0
stw [%r10-4], 0
lddw %r1, map_fd 1
mov %r2, %r10
add %r2, -4
call 1
jeq %r0, 0, out
add %r0, %r6
ldxb %r0, [%r0+0]
out:
exit
