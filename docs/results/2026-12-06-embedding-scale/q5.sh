#!/bin/bash
# After q4: the input's scale at each width: 64 at N(0, 0.5), 256 at N(0, 0.25), English, seed 123.
cd /work/main && . .venv/bin/activate
while ! grep -q ALL /tmp/s8/q4.done 2>/dev/null; do sleep 5; done
WT=/tmp/s8/wt
SH=/work/shared/data/tinyshakespeare.txt
run() { name=$1; std=$2; shift 2; rm -rf /tmp/s8/$name; echo "$ EMB_STD=$std python scripts/train.py $*" > /tmp/s8/$name.log
  EMB_STD=$std PYTHONPATH=$WT python $WT/scripts/train.py "$@" --checkpoint_dir /tmp/s8/$name >> /tmp/s8/$name.log 2>&1; echo "$name rc=$? $(date +%T)" >> /tmp/s8/q5.done; }
run f6-sh-emb64-std0.5 0.5 --time_budget 3 --embedding_size 64 --train_data $SH
run f7-sh-emb256-std0.25 0.25 --time_budget 3 --embedding_size 256 --train_data $SH
echo ALL >> /tmp/s8/q5.done
