# expect: refuse back-edge from insn 3 to 2
# capable: no
mov %r0, 0
mov %r1, 3
loop:
sub %r1, 1
jsgt %r1, 0, loop
exit
