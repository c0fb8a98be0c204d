#!/bin/bash
# The embedding's width on the Chinese text, a second seed, with the rows-for-a-large-vocabulary change (working tree). One at a time.
cd /work/main && . .venv/bin/activate
ZH=/tmp/exp/corpora/tfcharrnn-quality-corpora/chinese.txt
run() { name=$1; shift; { echo "\$ python scripts/train.py $*"; date; git -C /work/main log --oneline -1; git -C /work/main diff --stat; python scripts/train.py "$@"; } > /tmp/exp/e/$name.log 2>&1; }
run z1-zh-emb64-s7 --time_budget 3 --train_data $ZH --seed 7 --checkpoint_dir /tmp/exp/e/z1
run z2-zh-emb256-s7 --time_budget 3 --train_data $ZH --seed 7 --embedding_size 256 --checkpoint_dir /tmp/exp/e/z2
echo done > /tmp/exp/e/run4.done
