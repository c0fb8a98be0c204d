#!/bin/bash
# A second 15-minute pair at d310d0f: tfcharrnn --time_budget 15 --seed 7, then the LSTM peer at the race's settings
# (embedding 256: its better width at 15 minutes, 1.3679 against 1.3714 at 64) again (its seed, 123: the peer's
# script takes none). One at a time, nothing else timed running.
cd /tmp/s9/wtr && . /work/main/.venv/bin/activate
{ date; git log --oneline -1; cat /proc/loadavg; } > /tmp/s9/pair15.out
name=s7-15; rm -rf /tmp/s9/$name
echo "$ python scripts/train.py --time_budget 15 --seed 7 --train_data tfcharrnn/assets/tinyshakespeare.txt" > /tmp/s9/$name.log
PYTHONPATH=/tmp/s9/wtr python scripts/train.py --time_budget 15 --seed 7 --train_data tfcharrnn/assets/tinyshakespeare.txt --checkpoint_dir /tmp/s9/$name >> /tmp/s9/$name.log 2>&1
echo "$name rc=$? $(date +%T)" >> /tmp/s9/pair15.out
settings=$(python -c 'import json; d=json.load(open("/tmp/q/race15/bench.json")); print(json.dumps([x for x in d["quality"]["runs"] if x["peer"]=="torch"][0]["settings"]))')
echo "$ python -m benchmarks.lstm_peer --corpus tfcharrnn/assets/tinyshakespeare.txt --minutes 15 --settings '$settings'" > /tmp/s9/peer256-15-2.log
PYTHONPATH=/tmp/s9/wtr python -m benchmarks.lstm_peer --corpus tfcharrnn/assets/tinyshakespeare.txt --minutes 15 --settings "$settings" >> /tmp/s9/peer256-15-2.log 2>&1
echo "peer256-15-2 rc=$? $(date +%T)" >> /tmp/s9/pair15.out
echo ALL >> /tmp/s9/pair15.out
