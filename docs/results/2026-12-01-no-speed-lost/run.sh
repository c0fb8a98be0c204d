#!/bin/bash
# "No speed lost" (issue 16): the benchmark's train and generate sections for the small and medium
# models, the code before the restructuring (9ab456a) and after it, run back to back, twice.
set -e
. /work/venv/bin/activate
OUT=/work/main/docs/results/2026-12-01-no-speed-lost
mkdir -p $OUT
for round in 1 2; do
  (cd /work/wt-old && python scripts/bench.py --only train,generate --configs small,medium --train-peers tfcharrnn,torch --out $OUT/before-$round > $OUT/before-$round.log 2>&1)
  (cd /work/main && python scripts/bench.py --only train,generate --configs small,medium --train-peers tfcharrnn,torch --out $OUT/after-$round > $OUT/after-$round.log 2>&1)
done
