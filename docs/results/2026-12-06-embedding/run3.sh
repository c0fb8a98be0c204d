#!/bin/bash
# run2's B runs failed (a broken edit); again, B A B at 64 and B A at 256, one at a time.
cd /work/main && . .venv/bin/activate
ZH=/tmp/exp/corpora/tfcharrnn-quality-corpora/chinese.txt
run() { name=$1; wt=$2; shift 2; { echo "\$ PYTHONPATH=$wt python $wt/scripts/train.py $*"; date; git -C $wt log --oneline -1; git -C $wt diff --stat; PYTHONPATH=$wt python $wt/scripts/train.py "$@"; } > /tmp/exp/e/$name.log 2>&1; }
run u1-b-emb64 /work/main --time_budget 3 --max_steps 150 --train_data $ZH --checkpoint_dir /tmp/exp/e/u1-b
run u2-a-emb64 /tmp/exp/wt-a --time_budget 3 --max_steps 150 --train_data $ZH --checkpoint_dir /tmp/exp/e/u2-a
run u3-b-emb64 /work/main --time_budget 3 --max_steps 150 --train_data $ZH --checkpoint_dir /tmp/exp/e/u3-b
run u4-b-emb256 /work/main --time_budget 3 --max_steps 150 --embedding_size 256 --train_data $ZH --checkpoint_dir /tmp/exp/e/u4-b
run u5-a-emb256 /tmp/exp/wt-a --time_budget 3 --max_steps 150 --embedding_size 256 --train_data $ZH --checkpoint_dir /tmp/exp/e/u5-a
echo done > /tmp/exp/e/run3.done
