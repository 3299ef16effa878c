# expect 5.10: refuse R1 type=fp expected=mem
# expect 6.12: refuse R1 type=fp expected=ringbuf_mem
mov %r1, %r10
mov %r2, 0
call 132
mov %r0, 0
exit
