# expect: refuse R0 pointer arithmetic on map_value_or_null prohibited, null-check it first
# map: hash 4 8 16
stw [%r10-4], 0
lddw %r1, map_fd 1
mov %r2, %r10
add %r2, -4
call 1
add %r0, 8
mov %r0, 0
exit
