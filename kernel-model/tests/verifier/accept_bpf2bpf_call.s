# expect: accept
mov %r1, 5
call local f
exit
f:
mov %r0, %r1
exit
