# expect: accept
# map: ringbuf 0 0 4096
lddw %r1, map_fd 1
mov %r2, 8
mov %r3, 0
call 131
jeq %r0, 0, out
stdw [%r0+0], 1
mov %r1, %r0
mov %r2, 0
call 132
out:
mov %r0, 0
exit
