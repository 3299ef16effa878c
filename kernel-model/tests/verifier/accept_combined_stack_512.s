# expect: accept
stdw [%r10-256], 0
call local f
exit
f:
stdw [%r10-256], 0
mov %r0, 0
exit
