#!/bin/bash
# tfcharrnn at rate 0.01 with the weights' average at momentum 0.99 (~100 steps: the averaging probe's best at 0.01), seed 7
cd /work/main && . .venv/bin/activate
python scripts/train.py --time_budget 15 --train_data /work/main/tfcharrnn/assets/tinyshakespeare.txt --seed 7 \
  --learning_rate 0.01 --ema_momentum 0.99 --checkpoint_dir /tmp/s13/lr10ema99 > /tmp/s13/lr10ema99.log 2>&1
touch /tmp/s13/ema99.done
