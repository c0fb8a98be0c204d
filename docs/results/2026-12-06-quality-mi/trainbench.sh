# the plain LSTM's training paths before (baf2a59, worktree /tmp/mi) and after (work tree), one after the other, twice
for round in 1; do
  cd /tmp/mi && PYTHONPATH=/tmp/mi /work/main/.venv/bin/python scripts/bench.py --only train --configs small,medium --train-peers tfcharrnn-step-groups,tfcharrnn-layer-groups,tfcharrnn-whole-batch --repeats 3 --out /tmp/p/train-before-$round > /tmp/p/train-before-$round.out 2>&1
  cd /work/main && .venv/bin/python scripts/bench.py --only train --configs small,medium --train-peers tfcharrnn-step-groups,tfcharrnn-layer-groups,tfcharrnn-whole-batch --repeats 3 --out /tmp/p/train-after-$round > /tmp/p/train-after-$round.out 2>&1
done
touch /tmp/p/trainbench.done
