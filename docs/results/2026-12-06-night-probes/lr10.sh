#!/bin/bash
# the 15-minute recipe at peak learning rate 0.01, seed 7 (after the peer's 0.007 run)
while [ ! -e /tmp/s13/torch-lr7.done ]; do sleep 10; done
cd /work/main && . .venv/bin/activate
python scripts/train.py --time_budget 15 --train_data /work/main/tfcharrnn/assets/tinyshakespeare.txt --seed 7 \
  --learning_rate 0.01 --checkpoint_dir /tmp/s13/lr10 > /tmp/s13/lr10.log 2>&1
touch /tmp/s13/lr10.done
