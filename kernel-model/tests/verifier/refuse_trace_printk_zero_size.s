# expect 5.10: refuse invalid stack type R1 off=-8 access_size=0
# expect 6.12: refuse R2 invalid zero-sized read: u64=[0,0]
stdw [%r10-8], 0
mov %r1, %r10
add %r1, -8
mov %r2, 0
call 6
exit
