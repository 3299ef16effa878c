# expect 5.10: refuse unknown func bpf_xdp_adjust_head#44
# expect 6.12: refuse program of this type cannot use helper bpf_xdp_adjust_head#44
call 44
exit
