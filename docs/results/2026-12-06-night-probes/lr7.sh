#!/bin/bash
# the 15-minute recipe at a higher peak learning rate (Muon's and Adam's), seed 7: pair of base7 (1.3586)
cd /work/main && . .venv/bin/activate
python scripts/train.py --time_budget 15 --train_data /work/main/tfcharrnn/assets/tinyshakespeare.txt --seed 7 \
  --learning_rate 0.007 --checkpoint_dir /tmp/s13/lr7 > /tmp/s13/lr7.log 2>&1
touch /tmp/s13/lr7.done
