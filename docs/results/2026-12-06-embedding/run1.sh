#!/bin/bash
# Embedding width 64 against 256: a second seed on the code corpus, and the Chinese text. One at a time.
cd /work/main && . .venv/bin/activate
CODE=/tmp/exp/corpora/tfcharrnn-quality-corpora/code-py3.11.txt
ZH=/tmp/exp/corpora/tfcharrnn-quality-corpora/chinese.txt
run() { name=$1; shift; { echo "\$ python scripts/train.py $*"; date; git -C /work/main log --oneline -1; python scripts/train.py "$@"; } > /tmp/exp/e/$name.log 2>&1; }
# warm the autotuner's cache for the shapes (not timed)
python scripts/train.py --max_steps 1 --train_data $ZH --embedding_size 256 --checkpoint_dir /tmp/exp/e/warm1 > /tmp/exp/e/warm1.log 2>&1
python scripts/train.py --max_steps 1 --train_data $CODE --embedding_size 256 --checkpoint_dir /tmp/exp/e/warm2 > /tmp/exp/e/warm2.log 2>&1
run p1-code-emb64-s7 --time_budget 3 --train_data $CODE --seed 7 --checkpoint_dir /tmp/exp/e/p1
run p2-code-emb256-s7 --time_budget 3 --train_data $CODE --seed 7 --embedding_size 256 --checkpoint_dir /tmp/exp/e/p2
run p3-zh-emb64 --time_budget 3 --train_data $ZH --checkpoint_dir /tmp/exp/e/p3
run p4-zh-emb256 --time_budget 3 --train_data $ZH --embedding_size 256 --checkpoint_dir /tmp/exp/e/p4
echo done > /tmp/exp/e/run1.done
