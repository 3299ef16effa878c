ja exit
mov %r0, 1
exit
exit