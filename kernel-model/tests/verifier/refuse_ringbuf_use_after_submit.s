# map: ringbuf 0 0 4096
# expect 5.10: refuse R6 invalid mem access 'inv'
# expect 6.12: refuse R6 invalid mem access 'scalar'
lddw %r1, map_fd 1
mov %r2, 8
mov %r3, 0
call 131
jeq %r0, 0, out
mov %r6, %r0
mov %r1, %r0
mov %r2, 0
call 132
stdw [%r6+0], 1
out:
mov %r0, 0
exit
