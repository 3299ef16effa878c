# expect: refuse R2 !read_ok
call 14
mov %r1, %r10
add %r1, -8
call 6
exit
