# Reaches [0, 10, 30, 250] from zeros: the first single-target run of training.json.
ld %6, r4
sub r1, r4, r4      # 0 - 6 = 250 (mod 256)
ld %10, r2
ld %15, r3
add r3, r3, r3      # 30
stop
