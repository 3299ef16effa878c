# expect: refuse R1 type=fp expected=map_ptr
mov %r1, %r10
mov %r2, %r10
call 1
exit
