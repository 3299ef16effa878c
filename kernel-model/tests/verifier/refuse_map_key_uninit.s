# map: hash 4 8 16
# expect 5.10: refuse invalid indirect read from stack off -4+0 size 4
# expect 6.12: refuse invalid indirect read from stack R2 off -4+0 size 4
lddw %r1, map_fd 1
mov %r2, %r10
add %r2, -4
call 1
exit
