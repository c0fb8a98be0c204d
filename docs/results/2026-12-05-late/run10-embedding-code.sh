#!/bin/bash
# after run3.sh (pid 11744): embedding 256 on the code corpus (its pair: m4-code-emb64, 1.1267)
while kill -0 11744 2>/dev/null; do sleep 3; done
C=/tmp/exp/corpora/tfcharrnn-quality-corpora/code-py3.11.txt
cd /work/main && . .venv/bin/activate
tf() { name=$1; shift; { echo "\$ python scripts/train.py $* --checkpoint_dir /tmp/exp/l/$name"; date; git log --oneline -1; git status --short; } > /tmp/exp/l/$name.log
  rm -rf /tmp/exp/l/$name; python scripts/train.py "$@" --checkpoint_dir /tmp/exp/l/$name >> /tmp/exp/l/$name.log 2>&1; echo "loadavg after: $(cat /proc/loadavg)" >> /tmp/exp/l/$name.log; }
python scripts/train.py --train_data $C --time_budget 3 --embedding_size 256 --max_steps 1 --checkpoint_dir /tmp/exp/l/warm > /tmp/exp/l/warm-code256.log 2>&1
tf o1-code-emb256 --time_budget 3 --train_data $C --embedding_size 256
