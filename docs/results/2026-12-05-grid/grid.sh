#!/bin/bash
# the LSTM peer's grid again under the race's present settings (weight decay 0.1, wsd, beta2 0.99), /work/main at 4f7cbc2
cd /work/main && . .venv/bin/activate
{ echo "\$ python scripts/bench.py --only quality-grid --quality-minutes 3 --quality-corpora shakespeare --quality-peers torch --tmp-dir /tmp/exp/corpora --out /tmp/exp/l/grid"; date; git log --oneline -1; } > /tmp/exp/l/grid.out
python scripts/bench.py --only quality-grid --quality-minutes 3 --quality-corpora shakespeare --quality-peers torch --tmp-dir /tmp/exp/corpora --out /tmp/exp/l/grid >> /tmp/exp/l/grid.out 2>&1
echo "loadavg after: $(cat /proc/loadavg)" >> /tmp/exp/l/grid.out
