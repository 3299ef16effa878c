# expect: refuse R1 pointer arithmetic on map_ptr prohibited
# map: hash 4 8 16
lddw %r1, map_fd 1
add %r1, 8
mov %r0, 0
exit
