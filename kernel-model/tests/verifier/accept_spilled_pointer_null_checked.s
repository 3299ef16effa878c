# expect: accept
# map: hash 4 8 16
# A null check of r0 also marks the copy spilled to the stack (mark_ptr_or_null_regs).
stw [%r10-4], 0
lddw %r1, map_fd 1
mov %r2, %r10
add %r2, -4
call 1
stxdw [%r10-16], %r0
jeq %r0, 0, out
ldxdw %r1, [%r10-16]
ldxdw %r0, [%r1+0]
out:
exit
