# expect 5.10: refuse invalid stack type R1 off=-8 access_size=16
# expect 6.12: refuse invalid indirect access to stack R1 off=-8 size=16
mov %r1, %r10
add %r1, -8
mov %r2, 16
mov %r3, 0
call 113
exit
