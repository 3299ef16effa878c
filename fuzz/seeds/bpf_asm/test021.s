mov %r2, 77
call %r2
exit