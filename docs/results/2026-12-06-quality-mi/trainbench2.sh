# round 2, the order swapped: after (work tree), then before (baf2a59)
cd /work/main && .venv/bin/python scripts/bench.py --only train --configs small,medium --train-peers tfcharrnn-step-groups,tfcharrnn-layer-groups,tfcharrnn-whole-batch --repeats 3 --out /tmp/p/train-after-2 > /tmp/p/train-after-2.out 2>&1
cd /tmp/mi && PYTHONPATH=/tmp/mi /work/main/.venv/bin/python scripts/bench.py --only train --configs small,medium --train-peers tfcharrnn-step-groups,tfcharrnn-layer-groups,tfcharrnn-whole-batch --repeats 3 --out /tmp/p/train-before-2 > /tmp/p/train-before-2.out 2>&1
touch /tmp/p/trainbench2.done
