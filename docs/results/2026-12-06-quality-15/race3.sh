#!/bin/bash
# After the 15-minute pair: the 3-minute race on Tiny Shakespeare through bench.py with the new torch-emb64 peer
# (the LSTM at embedding 64 beside the one of the same sizes), from the working tree (d310d0f + the peer). One at a time.
while ! grep -q ALL /tmp/s9/pair15.out 2>/dev/null; do sleep 5; done
cd /work/main && . .venv/bin/activate
{ date; git log --oneline -1; git diff --stat | tail -1; cat /proc/loadavg; } > /tmp/s9/race3.out
python scripts/bench.py --only quality --quality-minutes 3 --quality-corpora shakespeare --quality-peers tfcharrnn,torch,torch-emb64 --tmp-dir /tmp/exp/corpora --out /tmp/q/race3 >> /tmp/s9/race3.out 2>&1
echo "race3 rc=$? $(date +%T)" >> /tmp/s9/race3.out
{ date; cat /proc/loadavg; } >> /tmp/s9/race3.out
echo ALL >> /tmp/s9/race3.out
