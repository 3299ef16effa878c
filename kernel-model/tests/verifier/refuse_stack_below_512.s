# expect 5.10: refuse invalid stack off=-520 size=8
# expect 6.12: refuse invalid write to stack R10 off=-520 size=8
stdw [%r10-520], 0
mov %r0, 0
exit
