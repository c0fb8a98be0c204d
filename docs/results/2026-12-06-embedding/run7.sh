#!/bin/bash
# After CI: the Chinese text without skip connections (the output layer reads the top layer's 256, not both layers' 512:
# about a third fewer multiply-adds a character at 5,964 characters), two seeds, at main (embedding 256 by the recipe).
while [ ! -f /tmp/exp/e/ci1.rc ]; do sleep 5; done
cd /work/main && . .venv/bin/activate
ZH=/tmp/exp/corpora/tfcharrnn-quality-corpora/chinese.txt
run() { name=$1; shift; { echo "\$ python scripts/train.py $*"; date; git -C /work/main log --oneline -1; git -C /work/main diff --stat; uptime; python scripts/train.py "$@"; } > /tmp/exp/e/$name.log 2>&1; }
python scripts/train.py --max_steps 1 --train_data $ZH --skip_connections false --checkpoint_dir /tmp/exp/e/warm3 > /tmp/exp/e/warm3.log 2>&1
run s1-zh-noskip --time_budget 3 --train_data $ZH --skip_connections false --checkpoint_dir /tmp/exp/e/s1
run s2-zh-noskip-s7 --time_budget 3 --train_data $ZH --seed 7 --skip_connections false --checkpoint_dir /tmp/exp/e/s2
echo done > /tmp/exp/e/run7.done
