# the runs in the order they ran, one after the other on the same VM (Intel Xeon, 2 cores, AVX-512,
# AVX512_BF16, AMX; oneDNN on), nothing else timed running; each `run.sh NAME FLAGS` (one
# `python scripts/train.py`) from a worktree of 8fb1168 with probe.patch applied: the trainer keeps
# the raw weights every 10 steps and, when the run stops, scores averages of them on validation
# (an exponential average over a span of a fraction of the run's steps or of a fixed number of steps,
# and a uniform average of the last part of the run): the `probe-avg` lines of each log. The
# autotuner's cache warmed first for each shape (one --max_steps 1 run, not timed).
T=/work/shared/data/tinyshakespeare.txt   # Tiny Shakespeare
run.sh a1-3 --time_budget 3 --train_data $T
# input skip connections (input-skip.patch applied, its flag on; the cache warmed for the new shape key)
run.sh b1-3-skipin --time_budget 3 --train_data $T --input_skip true
run.sh b2-3-base-s7 --time_budget 3 --train_data $T --seed 7
run.sh b3-3-skipin-s7 --time_budget 3 --train_data $T --seed 7 --input_skip true
# input-skip.patch reverted: every default at 15 minutes (the pair of ../2026-12-05-afternoon's m4)
run.sh c1-15 --time_budget 15 --train_data $T
# the output layer's kernel starting at zero (zero-head.patch); its seed-7 run was stopped at its start
run.sh d1-3-zerohead --time_budget 3 --train_data $T
