lddw %r1, map_fd 99
mov %r0, 0
exit