# expect: refuse infinite loop detected at insn 1
mov %r0, 0
ja -1
