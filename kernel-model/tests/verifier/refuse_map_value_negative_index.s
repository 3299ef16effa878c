# expect: refuse R0 min value is negative, either use unsigned index or do a if (index >=0) check.
# map: array 4 64 1
ldxdw %r6, [%r1+0]
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
