#!/bin/bash
# one after the other (seed 123, 3 minutes, Tiny Shakespeare): Keras' orthogonal initialiser for the input kernels
# too, and the forget gate's bias at 0.5 (init-probe.patch in /tmp/wt1), then gradient clipping at 1 (/work/main, no patch).
# The pair of each: ../d/e1-base (1.4193). (A first try of these three ran side by side by mistake: discarded.)
T=/work/shared/data/tinyshakespeare.txt
. /work/main/.venv/bin/activate
tf() { tree=$1; name=$2; shift 2; cd $tree; { echo "\$ TFCHARRNN_PROBE_INIT=$TFCHARRNN_PROBE_INIT PYTHONPATH=$tree python scripts/train.py $* --checkpoint_dir /tmp/exp/h/$name"; date; git log --oneline -1; git status --short; } > /tmp/exp/h/$name.log
  rm -rf /tmp/exp/h/$name; PYTHONPATH=$tree python scripts/train.py "$@" --checkpoint_dir /tmp/exp/h/$name >> /tmp/exp/h/$name.log 2>&1; echo "loadavg after: $(cat /proc/loadavg)" >> /tmp/exp/h/$name.log; }
TFCHARRNN_PROBE_INIT=orth_input tf /tmp/wt1 i3-orth --time_budget 3 --train_data $T
TFCHARRNN_PROBE_INIT=forget0.5 tf /tmp/wt1 j1-forget0.5 --time_budget 3 --train_data $T
TFCHARRNN_PROBE_INIT= tf /work/main k1-clip1 --time_budget 3 --train_data $T --grad_clip 1
