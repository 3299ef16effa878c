# expect: refuse cannot pass map_type 4 into func bpf_map_lookup_elem#1
# map: perf_event_array 4 4 2
stw [%r10-4], 0
lddw %r1, map_fd 1
mov %r2, %r10
add %r2, -4
call 1
mov %r0, 0
exit
