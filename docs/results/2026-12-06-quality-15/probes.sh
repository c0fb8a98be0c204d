#!/bin/bash
# After the race: weight drop (tfcharrnn's own regulariser; the plain nn.LSTM peer has none) at AWD-LSTM's
# char-level strength, 15 minutes, Tiny Shakespeare, seed 123 (the race's run is its pair). One at a time.
while ! grep -q ALL /tmp/s9/race.done 2>/dev/null; do sleep 10; done
cd /tmp/s9/wtr && . /work/main/.venv/bin/activate
run() { name=$1; shift; rm -rf /tmp/s9/$name
  echo "$ python scripts/train.py $* --checkpoint_dir /tmp/s9/$name" > /tmp/s9/$name.log
  { date; cat /proc/loadavg; } >> /tmp/s9/$name.log
  PYTHONPATH=/tmp/s9/wtr python scripts/train.py "$@" --checkpoint_dir /tmp/s9/$name >> /tmp/s9/$name.log 2>&1
  echo "$name rc=$? $(date +%T)" >> /tmp/s9/probes.done; }
run w1-15-wdrop0.25 --time_budget 15 --train_data /work/shared/data/tinyshakespeare.txt --weight_drop 0.25
echo ALL >> /tmp/s9/probes.done
