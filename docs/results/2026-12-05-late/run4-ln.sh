#!/bin/bash
# a layer normalisation before the output layer (probe.patch on 5a41c1e, in /tmp/wt1; TFCHARRNN_PROBE_HEAD=ln),
# 3 minutes on Tiny Shakespeare, two seeds; the pairs without it: ../d/e1-base (seed 123), ../d/f2-base-s7 (seed 7)
T=/work/shared/data/tinyshakespeare.txt
cd /tmp/wt1 && . /work/main/.venv/bin/activate
tf() { name=$1; shift; { echo "\$ TFCHARRNN_PROBE_HEAD=$PROBE PYTHONPATH=/tmp/wt1 python scripts/train.py $* --checkpoint_dir /tmp/exp/h/$name"; date; git log --oneline -1; git status --short; } > /tmp/exp/h/$name.log
  rm -rf /tmp/exp/h/$name; PYTHONPATH=/tmp/wt1 python scripts/train.py "$@" --checkpoint_dir /tmp/exp/h/$name >> /tmp/exp/h/$name.log 2>&1; echo "loadavg after: $(cat /proc/loadavg)" >> /tmp/exp/h/$name.log; }
export PROBE=ln TFCHARRNN_PROBE_HEAD=ln
PYTHONPATH=/tmp/wt1 python scripts/train.py --train_data $T --max_steps 20 --eval_val_every 10 --sample_every 10 --sample_length 50 --checkpoint_dir /tmp/exp/h/smoke > /tmp/exp/h/smoke.log 2>&1 || { echo smoke failed; exit 1; }
tf h1-ln --time_budget 3 --train_data $T
tf h2-ln-s7 --time_budget 3 --train_data $T --seed 7
