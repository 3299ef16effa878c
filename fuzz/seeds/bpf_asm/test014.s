mov %r2, -12
call 58
mov %r0, 0
exit