#!/bin/bash
# the embedding's width, continued (3 minutes, one after the other, /work/main at 7aa64e4): seed 7, a wider one, the code corpus
T=/work/shared/data/tinyshakespeare.txt
C=/tmp/exp/corpora/tfcharrnn-quality-corpora/code-py3.11.txt
cd /work/main && . .venv/bin/activate
tf() { name=$1; shift; { echo "\$ python scripts/train.py $* --checkpoint_dir /tmp/exp/l/$name"; date; git log --oneline -1; git status --short; } > /tmp/exp/l/$name.log
  rm -rf /tmp/exp/l/$name; python scripts/train.py "$@" --checkpoint_dir /tmp/exp/l/$name >> /tmp/exp/l/$name.log 2>&1; echo "loadavg after: $(cat /proc/loadavg)" >> /tmp/exp/l/$name.log; }
python scripts/train.py --train_data $T --time_budget 3 --embedding_size 256 --max_steps 1 --checkpoint_dir /tmp/exp/l/warm > /tmp/exp/l/warm-256.log 2>&1
python scripts/train.py --train_data $C --time_budget 3 --embedding_size 128 --max_steps 1 --checkpoint_dir /tmp/exp/l/warm > /tmp/exp/l/warm-code128.log 2>&1
python scripts/train.py --train_data $C --time_budget 3 --max_steps 1 --checkpoint_dir /tmp/exp/l/warm > /tmp/exp/l/warm-code64.log 2>&1
tf m1-emb128-s7 --time_budget 3 --train_data $T --embedding_size 128 --seed 7
tf m2-emb256 --time_budget 3 --train_data $T --embedding_size 256
tf m3-code-emb128 --time_budget 3 --train_data $C --embedding_size 128
tf m4-code-emb64 --time_budget 3 --train_data $C
