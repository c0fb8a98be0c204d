#!/bin/bash
# tfcharrnn at peak rate 0.01, seed 123, with the averaging probe (raw weights kept every 10 steps; averages of them
# scored on validation after the budget): the second seed of 0.01, and which average suits the higher rate
while [ ! -e /tmp/s13/next.done ]; do sleep 10; done
cd /tmp/avg && PYTHONPATH=/tmp/avg /work/main/.venv/bin/python scripts/train.py --time_budget 15 \
  --train_data /work/main/tfcharrnn/assets/tinyshakespeare.txt --seed 123 --learning_rate 0.01 --checkpoint_dir /tmp/s13/lr10s123 > /tmp/s13/lr10s123.log 2>&1
touch /tmp/s13/avg.done
