#!/bin/bash
# 15-minute English probe: embedding 256 (the recipe's 64 otherwise), seed 123, at 66b0bff
cd /work/main && . .venv/bin/activate
rm -rf /tmp/s8/q1-15-emb256
python scripts/train.py --time_budget 15 --embedding_size 256 --train_data /work/shared/data/tinyshakespeare.txt --checkpoint_dir /tmp/s8/q1-15-emb256 > /tmp/s8/q1-15-emb256.log 2>&1
echo $? > /tmp/s8/q1.rc
