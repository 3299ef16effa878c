# expect: accept
# license: MIT
call 14
exit
