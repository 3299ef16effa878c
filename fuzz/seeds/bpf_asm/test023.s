stdw [%r1], 1
mov %r0, 0
exit