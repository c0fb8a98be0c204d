#!/bin/bash
# the embedding's width at 3 minutes (seed 123; the pair: ../2026-12-05-late e1-base, embedding 64), then the LSTM peer's grid
# again under the race's present settings (weight decay 0.1, wsd), one after the other, /work/main at 7aa64e4
T=/work/shared/data/tinyshakespeare.txt
cd /work/main && . .venv/bin/activate
tf() { name=$1; shift; { echo "\$ python scripts/train.py $* --checkpoint_dir /tmp/exp/l/$name"; date; git log --oneline -1; git status --short; } > /tmp/exp/l/$name.log
  rm -rf /tmp/exp/l/$name; python scripts/train.py "$@" --checkpoint_dir /tmp/exp/l/$name >> /tmp/exp/l/$name.log 2>&1; echo "loadavg after: $(cat /proc/loadavg)" >> /tmp/exp/l/$name.log; }
for e in 128 32; do python scripts/train.py --train_data $T --time_budget 3 --embedding_size $e --max_steps 1 --checkpoint_dir /tmp/exp/l/warm > /tmp/exp/l/warm-$e.log 2>&1; done
tf l1-emb128 --time_budget 3 --train_data $T --embedding_size 128
tf l2-emb32 --time_budget 3 --train_data $T --embedding_size 32
{ echo "\$ python scripts/bench.py --only quality-grid --quality-minutes 3 --quality-corpora shakespeare --quality-peers torch --tmp-dir /tmp/exp/corpora --out /tmp/exp/l/grid"; date; git log --oneline -1; } > /tmp/exp/l/grid.out
python scripts/bench.py --only quality-grid --quality-minutes 3 --quality-corpora shakespeare --quality-peers torch --tmp-dir /tmp/exp/corpora --out /tmp/exp/l/grid >> /tmp/exp/l/grid.out 2>&1
echo "loadavg after: $(cat /proc/loadavg)" >> /tmp/exp/l/grid.out
