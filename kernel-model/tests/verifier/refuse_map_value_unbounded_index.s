# expect: refuse R0 unbounded memory access, make sure to bounds check any such access
# map: array 4 64 1
ldxdw %r6, [%r1+0]
rsh %r6, 1
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
