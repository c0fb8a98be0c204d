#!/bin/bash
# depth at 15 minutes: 3x288 (about 2x384's multiply-adds), every other choice the recipe's (/work/main at 5a41c1e)
T=/work/shared/data/tinyshakespeare.txt
cd /work/main && . .venv/bin/activate
tf() { name=$1; shift; { echo "\$ python scripts/train.py $* --checkpoint_dir /tmp/exp/d/$name"; date; git log --oneline -1; } > /tmp/exp/d/$name.log
  rm -rf /tmp/exp/d/$name; python scripts/train.py "$@" --checkpoint_dir /tmp/exp/d/$name >> /tmp/exp/d/$name.log 2>&1; echo "loadavg after: $(cat /proc/loadavg)" >> /tmp/exp/d/$name.log; }
python scripts/train.py --train_data $T --num_layers 3 --hidden_size 288 --time_budget 15 --max_steps 1 --checkpoint_dir /tmp/exp/d/warm > /tmp/exp/d/warm4.log 2>&1
tf g1-15-3x288 --time_budget 15 --train_data $T --num_layers 3 --hidden_size 288
