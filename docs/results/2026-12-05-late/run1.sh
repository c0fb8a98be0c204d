#!/bin/bash
# depth probe (2026-12-05 late): 3 minutes, Tiny Shakespeare, one run at a time from /work/main (5a41c1e)
T=/work/shared/data/tinyshakespeare.txt
cd /work/main && . .venv/bin/activate
S='"model": "lstm", "embedding_size": 64, "dropout": 0.0, "seq_length": 100, "weight_decay": 0.1, "adam_beta2": 0.99, "optimizer": "adam", "lr_schedule": "wsd", "min_lr_frac": 0.05, "lr_decay_frac": 0.3, "learning_rate": 0.005, "batch_size": 32'
tf() { name=$1; shift; { echo "\$ python scripts/train.py $* --checkpoint_dir /tmp/exp/d/$name"; date; git log --oneline -1; } > $name.log
  rm -rf /tmp/exp/d/$name; python scripts/train.py "$@" --checkpoint_dir /tmp/exp/d/$name >> /tmp/exp/d/$name.log 2>&1; echo "loadavg after: $(cat /proc/loadavg)" >> /tmp/exp/d/$name.log; }
peer() { name=$1; shift; { echo "\$ python -m benchmarks.lstm_peer --corpus $T --minutes 3 --settings '{$S, $1}'"; date; } > /tmp/exp/d/$name.log
  python -m benchmarks.lstm_peer --corpus $T --minutes 3 --settings "{$S, $1}" >> /tmp/exp/d/$name.log 2>&1; echo "loadavg after: $(cat /proc/loadavg)" >> /tmp/exp/d/$name.log; }
cd /work/main
# warm the autotune cache for the new shapes (not timed)
python scripts/train.py --train_data $T --num_layers 3 --hidden_size 192 --max_steps 1 --checkpoint_dir /tmp/exp/d/warm > /tmp/exp/d/warm.log 2>&1
tf e1-base --time_budget 3 --train_data $T
tf e2-3x192 --time_budget 3 --train_data $T --num_layers 3 --hidden_size 192
peer e3-peer-3x192 '"hidden_size": 192, "num_layers": 3'
peer e4-peer-2x256 '"hidden_size": 256, "num_layers": 2'
