# expect: refuse R2 unbounded memory access, use 'var &= const' or 'if (var < const)'
mov %r6, %r1
ldxdw %r2, [%r6+0]
rsh %r2, 1
mov %r1, %r10
add %r1, -8
mov %r3, 0
call 113
exit
