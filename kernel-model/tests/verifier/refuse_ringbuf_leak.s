# expect: refuse Unreleased reference id=2 alloc_insn=4
# map: ringbuf 0 0 4096
lddw %r1, map_fd 1
mov %r2, 8
mov %r3, 0
call 131
mov %r0, 0
exit
