#!/bin/bash
# probe: MI's gain in the first layer also keyed by the previous character ((V+1, 4H) table, zeros), seed 7
while [ ! -e /tmp/s13/lr7.done ]; do sleep 10; done
cd /tmp/bg && BIGRAM_ROWS=66 PYTHONPATH=/tmp/bg /work/main/.venv/bin/python scripts/train.py --time_budget 15 \
  --train_data /work/main/tfcharrnn/assets/tinyshakespeare.txt --seed 7 --sample_length 0 --checkpoint_dir /tmp/s13/bigram > /tmp/s13/bigram.log 2>&1
touch /tmp/s13/bigram.done
