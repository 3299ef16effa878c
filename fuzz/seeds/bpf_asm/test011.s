L:
L:
exit