#!/bin/bash
# After q1: does the embedding's gain follow the passes? English at 1.5 minutes (~3 passes) and the code
# corpus at 5.5 minutes (~6 passes), 64 against 256, one run at a time, at 66b0bff.
cd /work/main && . .venv/bin/activate
while [ ! -f /tmp/s8/q1.rc ]; do sleep 5; done
SH=/work/shared/data/tinyshakespeare.txt
CODE=/tmp/exp/corpora/tfcharrnn-quality-corpora/code-py3.11.txt
run() { name=$1; shift; rm -rf /tmp/s8/$name; echo "$ python scripts/train.py $*" > /tmp/s8/$name.log
  python scripts/train.py "$@" --checkpoint_dir /tmp/s8/$name >> /tmp/s8/$name.log 2>&1; echo "$name rc=$? $(date +%T)" >> /tmp/s8/q2.done; }
run e1-sh1.5-emb64 --time_budget 1.5 --embedding_size 64 --train_data $SH
run e2-sh1.5-emb256 --time_budget 1.5 --embedding_size 256 --train_data $SH
run e3-sh1.5-emb256-s7 --time_budget 1.5 --embedding_size 256 --train_data $SH --seed 7
run e4-sh1.5-emb64-s7 --time_budget 1.5 --embedding_size 64 --train_data $SH --seed 7
run c1-code5.5-emb256 --time_budget 5.5 --embedding_size 256 --train_data $CODE
run c2-code5.5-emb64 --time_budget 5.5 --embedding_size 64 --train_data $CODE
echo ALL >> /tmp/s8/q2.done
