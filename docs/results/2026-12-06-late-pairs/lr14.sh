#!/bin/bash
# tfcharrnn at 15 minutes, seed 7, Muon's peak rate 0.014 (today's default 0.01), average as today's default (0.99)
cd /work/main && . .venv/bin/activate
python scripts/train.py --time_budget 15 --train_data /work/main/tfcharrnn/assets/tinyshakespeare.txt --seed 7 \
  --learning_rate 0.014 --checkpoint_dir /tmp/s14/lr14 > /tmp/s14/lr14.log 2>&1
cp /tmp/s14/lr14/metrics.jsonl /tmp/s14/lr14-metrics.jsonl
touch /tmp/s14/lr14.done
