# expect: refuse jump out of range from insn 0 to 6
ja +5
exit
