# expect: accept
# map: hash 4 8 16
stw [%r10-4], 0
stdw [%r10-16], 7
lddw %r1, map_fd 1
mov %r2, %r10
add %r2, -4
mov %r3, %r10
add %r3, -16
mov %r4, 0
call 2
exit
