# map: hash 4 8 16
# expect 5.10: refuse R2 type=inv expected=fp, pkt, pkt_meta, map_value
# expect 6.12: refuse R2 type=scalar expected=fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_
lddw %r1, map_fd 1
mov %r2, 0
call 1
exit
