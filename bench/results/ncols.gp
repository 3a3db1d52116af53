cols = 4
ccols = 9
