# expect: refuse R0 !read_ok
exit
