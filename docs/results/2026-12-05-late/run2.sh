#!/bin/bash
# depth probe, second batch: seeds and the code corpus (3 minutes, one run at a time, /work/main at 5a41c1e)
T=/work/shared/data/tinyshakespeare.txt
C=/tmp/exp/corpora/tfcharrnn-quality-corpora/code-py3.11.txt
cd /work/main && . .venv/bin/activate
tf() { name=$1; shift; { echo "\$ python scripts/train.py $* --checkpoint_dir /tmp/exp/d/$name"; date; git log --oneline -1; } > /tmp/exp/d/$name.log
  rm -rf /tmp/exp/d/$name; python scripts/train.py "$@" --checkpoint_dir /tmp/exp/d/$name >> /tmp/exp/d/$name.log 2>&1; echo "loadavg after: $(cat /proc/loadavg)" >> /tmp/exp/d/$name.log; }
# warm the autotune cache for the new shapes (not timed)
python scripts/train.py --train_data $T --num_layers 4 --hidden_size 160 --max_steps 1 --checkpoint_dir /tmp/exp/d/warm > /tmp/exp/d/warm2.log 2>&1
python scripts/train.py --train_data $C --num_layers 3 --hidden_size 192 --max_steps 1 --checkpoint_dir /tmp/exp/d/warm > /tmp/exp/d/warm3.log 2>&1
tf f1-3x192-s7 --time_budget 3 --train_data $T --num_layers 3 --hidden_size 192 --seed 7
tf f2-base-s7 --time_budget 3 --train_data $T --seed 7
tf f3-4x160 --time_budget 3 --train_data $T --num_layers 4 --hidden_size 160
tf f4-code-3x192 --time_budget 3 --train_data $C --num_layers 3 --hidden_size 192
tf f5-code-base --time_budget 3 --train_data $C
