# expect: refuse BPF program is too large. Processed 1000001 insn
mov %r1, 0
loop:
add %r1, 1
jlt %r1, 1000000, loop
mov %r0, 0
exit
