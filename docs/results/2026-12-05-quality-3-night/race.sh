#!/bin/bash
cd /tmp/wt3 && . /work/main/.venv/bin/activate
{ date; git log --oneline -1; cat /proc/loadavg; } > /tmp/exp/race3-night.out
PYTHONPATH=/tmp/wt3 python scripts/bench.py --only quality --quality-minutes 3 --quality-corpora shakespeare,code,chinese --quality-peers tfcharrnn,torch,transformer --tmp-dir /tmp/exp/corpora --out /tmp/q/race3-night >> /tmp/exp/race3-night.out 2>&1
{ date; cat /proc/loadavg; } >> /tmp/exp/race3-night.out
