#!/bin/bash
# usage: run.sh NAME ARGS...  (one timed run, from the worktree)
name=$1; shift
cd /tmp/wt && . /work/main/.venv/bin/activate
echo "$ PYTHONPATH=/tmp/wt python scripts/train.py $* --checkpoint_dir /tmp/exp/$name" > /tmp/exp/$name.log
date -u >> /tmp/exp/$name.log
PYTHONPATH=/tmp/wt python scripts/train.py "$@" --checkpoint_dir /tmp/exp/$name >> /tmp/exp/$name.log 2>&1
cat /proc/loadavg >> /tmp/exp/$name.log
