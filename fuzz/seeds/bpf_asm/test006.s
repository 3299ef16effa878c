mov %r0, 1

frob %r0
