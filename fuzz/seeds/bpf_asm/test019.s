stw [%r10-4], 0x6e25
mov %r1, %r10
add %r1, -4
mov %r2, 3
call 6
exit