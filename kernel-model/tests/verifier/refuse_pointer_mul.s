# expect: refuse R2 pointer arithmetic with *= operator prohibited
mov %r2, %r10
mul %r2, 2
mov %r0, 0
exit
