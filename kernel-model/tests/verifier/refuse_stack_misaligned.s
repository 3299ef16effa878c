# expect: refuse misaligned stack access off (0x0; 0x0)+0+-4 size 8
stdw [%r10-4], 0
mov %r0, 0
exit
