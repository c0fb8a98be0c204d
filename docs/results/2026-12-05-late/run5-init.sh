#!/bin/bash
# LSTM initialisation probes (init-probe.patch on 5a41c1e in /tmp/wt1; TFCHARRNN_PROBE_INIT), 3 minutes on Tiny
# Shakespeare, two seeds each; the pairs with Keras' own (forget bias 1, Glorot input kernels): ../d/e1-base, ../d/f2-base-s7
T=/work/shared/data/tinyshakespeare.txt
cd /tmp/wt1 && . /work/main/.venv/bin/activate
tf() { name=$1; shift; { echo "\$ TFCHARRNN_PROBE_INIT=$TFCHARRNN_PROBE_INIT PYTHONPATH=/tmp/wt1 python scripts/train.py $* --checkpoint_dir /tmp/exp/h/$name"; date; git log --oneline -1; git status --short; } > /tmp/exp/h/$name.log
  rm -rf /tmp/exp/h/$name; PYTHONPATH=/tmp/wt1 python scripts/train.py "$@" --checkpoint_dir /tmp/exp/h/$name >> /tmp/exp/h/$name.log 2>&1; echo "loadavg after: $(cat /proc/loadavg)" >> /tmp/exp/h/$name.log; }
export TFCHARRNN_PROBE_INIT=forget2
tf i1-forget2 --time_budget 3 --train_data $T
tf i2-forget2-s7 --time_budget 3 --train_data $T --seed 7
export TFCHARRNN_PROBE_INIT=orth_input
tf i3-orth --time_budget 3 --train_data $T
tf i4-orth-s7 --time_budget 3 --train_data $T --seed 7
