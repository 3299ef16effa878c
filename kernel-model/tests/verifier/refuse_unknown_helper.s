# expect: refuse invalid func unknown#9999
call 9999
exit
