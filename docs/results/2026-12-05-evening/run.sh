#!/bin/bash
# usage: run2.sh NAME ARGS...  (train.py from /tmp/wt2, log /tmp/exp/NAME.log, checkpoints /tmp/exp/NAME)
name=$1; shift
cd /tmp/wt2 && . /work/main/.venv/bin/activate
{ echo "\$ PYTHONPATH=/tmp/wt2 python scripts/train.py $* --checkpoint_dir /tmp/exp/$name"; date; git log --oneline -1; } > /tmp/exp/$name.log
PYTHONPATH=/tmp/wt2 python scripts/train.py "$@" --checkpoint_dir /tmp/exp/$name >> /tmp/exp/$name.log 2>&1
echo "loadavg after: $(cat /proc/loadavg)" >> /tmp/exp/$name.log
