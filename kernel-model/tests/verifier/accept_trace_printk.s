# expect: accept
stw [%r10-4], 0x0a6968
mov %r1, %r10
add %r1, -4
mov %r2, 4
call 6
exit
