#!/bin/bash
# The embedding's width with its input scale held: 256 wide at N(0, 0.5) (the first layer's input preactivations
# then as large as at 64 wide and N(0, 1)), English and code, two seeds each; then 64 at N(0, 1.84) on English.
# Worktree of 66b0bff with emb-std.patch (EMB_STD).
cd /work/main && . .venv/bin/activate
WT=/tmp/s8/wt
SH=/work/shared/data/tinyshakespeare.txt
CODE=/tmp/exp/corpora/tfcharrnn-quality-corpora/code-py3.11.txt
run() { name=$1; std=$2; shift 2; rm -rf /tmp/s8/$name; echo "$ EMB_STD=$std python scripts/train.py $*" > /tmp/s8/$name.log
  EMB_STD=$std PYTHONPATH=$WT python $WT/scripts/train.py "$@" --checkpoint_dir /tmp/s8/$name >> /tmp/s8/$name.log 2>&1; echo "$name rc=$? $(date +%T)" >> /tmp/s8/q4.done; }
run f1-sh-emb256-std0.5 0.5 --time_budget 3 --embedding_size 256 --train_data $SH
run f2-code-emb256-std0.5 0.5 --time_budget 3 --embedding_size 256 --train_data $CODE
run f3-sh-emb256-std0.5-s7 0.5 --time_budget 3 --embedding_size 256 --train_data $SH --seed 7
run f4-code-emb256-std0.5-s7 0.5 --time_budget 3 --embedding_size 256 --train_data $CODE --seed 7
run f5-sh-emb64-std1.84 1.84 --time_budget 3 --embedding_size 64 --train_data $SH
echo ALL >> /tmp/s8/q4.done
