# expect: refuse R2 bitwise operator &= on pointer prohibited
mov %r2, %r10
and %r2, 7
mov %r0, 0
exit
