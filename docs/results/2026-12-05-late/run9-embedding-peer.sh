#!/bin/bash
# after run2.sh (pid 11193): the LSTM peer with embedding 256 (the race's settings otherwise), then tfcharrnn's embedding 256 on seed 7
while kill -0 11193 2>/dev/null; do sleep 3; done
T=/work/shared/data/tinyshakespeare.txt
cd /work/main && . .venv/bin/activate
S='"model": "lstm", "hidden_size": 256, "num_layers": 2, "dropout": 0.0, "seq_length": 100, "weight_decay": 0.1, "adam_beta2": 0.99, "optimizer": "adam", "lr_schedule": "wsd", "min_lr_frac": 0.05, "lr_decay_frac": 0.3, "learning_rate": 0.005, "batch_size": 32'
tf() { name=$1; shift; { echo "\$ python scripts/train.py $* --checkpoint_dir /tmp/exp/l/$name"; date; git log --oneline -1; git status --short; } > /tmp/exp/l/$name.log
  rm -rf /tmp/exp/l/$name; python scripts/train.py "$@" --checkpoint_dir /tmp/exp/l/$name >> /tmp/exp/l/$name.log 2>&1; echo "loadavg after: $(cat /proc/loadavg)" >> /tmp/exp/l/$name.log; }
peer() { name=$1; shift; { echo "\$ python -m benchmarks.lstm_peer --corpus $T --minutes 3 --settings '{$S, $1}'"; date; } > /tmp/exp/l/$name.log
  python -m benchmarks.lstm_peer --corpus $T --minutes 3 --settings "{$S, $1}" >> /tmp/exp/l/$name.log 2>&1; echo "loadavg after: $(cat /proc/loadavg)" >> /tmp/exp/l/$name.log; }
peer n1-peer-emb256 '"embedding_size": 256'
tf n2-emb256-s7 --time_budget 3 --train_data $T --embedding_size 256 --seed 7
