#!/bin/bash
# usage: ab.sh NAME TREE ARGS...: train.py from TREE, log /tmp/exp/ab/NAME.log
name=$1; tree=$2; shift 2
mkdir -p /tmp/exp/ab; cd $tree && . /work/main/.venv/bin/activate
{ echo "\$ PYTHONPATH=$tree python scripts/train.py $* --checkpoint_dir /tmp/exp/ab/$name"; date; git log --oneline -1; git status --short | head -5; } > /tmp/exp/ab/$name.log
rm -rf /tmp/exp/ab/$name
PYTHONPATH=$tree python scripts/train.py "$@" --checkpoint_dir /tmp/exp/ab/$name >> /tmp/exp/ab/$name.log 2>&1
echo "loadavg after: $(cat /proc/loadavg)" >> /tmp/exp/ab/$name.log
