# expect: refuse cannot call GPL-restricted function from non-GPL compatible program
# license: MIT
mov %r1, %r10
add %r1, -8
mov %r2, 8
call 6
exit
