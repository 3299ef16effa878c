# expect: refuse infinite loop detected at insn 1
ldxdw %r2, [%r1+0]
loop:
jne %r2, 0, loop
mov %r0, 0
exit
