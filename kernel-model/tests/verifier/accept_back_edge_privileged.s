# expect: accept
mov %r0, 0
mov %r1, 3
loop:
sub %r1, 1
jsgt %r1, 0, loop
exit
