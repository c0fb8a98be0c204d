#!/bin/bash
# The first layer's input on a large vocabulary: the (V, G) table (main, A) against the rows (B), Chinese text, 150 steps each, A B A B, one at a time.
cd /work/main && . .venv/bin/activate
ZH=/tmp/exp/corpora/tfcharrnn-quality-corpora/chinese.txt
run() { name=$1; wt=$2; shift 2; { echo "\$ PYTHONPATH=$wt python $wt/scripts/train.py $*"; date; git -C $wt log --oneline -1; git -C $wt diff --stat; PYTHONPATH=$wt python $wt/scripts/train.py "$@"; } > /tmp/exp/e/$name.log 2>&1; }
for i in 1 2; do
run t$i-a-emb64 /tmp/exp/wt-a --time_budget 3 --max_steps 150 --train_data $ZH --checkpoint_dir /tmp/exp/e/t$i-a
run t$i-b-emb64 /work/main --time_budget 3 --max_steps 150 --train_data $ZH --checkpoint_dir /tmp/exp/e/t$i-b
done
run t3-a-emb256 /tmp/exp/wt-a --time_budget 3 --max_steps 150 --embedding_size 256 --train_data $ZH --checkpoint_dir /tmp/exp/e/t3-a
run t3-b-emb256 /work/main --time_budget 3 --max_steps 150 --embedding_size 256 --train_data $ZH --checkpoint_dir /tmp/exp/e/t3-b
echo done > /tmp/exp/e/run2.done
