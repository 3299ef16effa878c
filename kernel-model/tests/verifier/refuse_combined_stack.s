# expect: refuse combined stack size of 2 calls is 640. Too large
stdw [%r10-304], 0
call local f
exit
f:
stdw [%r10-304], 0
mov %r0, 0
exit
