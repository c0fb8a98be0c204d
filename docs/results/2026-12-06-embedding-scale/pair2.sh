#!/bin/bash
# After CI: a second English pair at 2ab64e2: tfcharrnn --time_budget 3 --seed 7, then the LSTM peer at embedding 64
# with the race's settings again (its seed, 123: the peer's script takes none).
cd /work/main && . .venv/bin/activate
while [ ! -f /tmp/s8/ci.rc ]; do sleep 5; done
{ date; git log --oneline -1; cat /proc/loadavg; } > /tmp/s8/pair2.out
name=t2-sh3-s7; rm -rf /tmp/s8/$name
echo "$ python scripts/train.py --time_budget 3 --seed 7 --train_data tfcharrnn/assets/tinyshakespeare.txt" > /tmp/s8/$name.log
python scripts/train.py --time_budget 3 --seed 7 --train_data tfcharrnn/assets/tinyshakespeare.txt --checkpoint_dir /tmp/s8/$name >> /tmp/s8/$name.log 2>&1
echo "$name rc=$? $(date +%T)" >> /tmp/s8/pair2.out
settings=$(head -1 /tmp/s8/peer64-shakespeare.log | sed "s/.*--settings '//; s/'$//")
echo "$ python -m benchmarks.lstm_peer --corpus tfcharrnn/assets/tinyshakespeare.txt --minutes 3 --settings '$settings'" > /tmp/s8/peer64-shakespeare-2.log
python -m benchmarks.lstm_peer --corpus tfcharrnn/assets/tinyshakespeare.txt --minutes 3 --settings "$settings" >> /tmp/s8/peer64-shakespeare-2.log 2>&1
echo "peer64-shakespeare-2 rc=$? $(date +%T)" >> /tmp/s8/pair2.out
echo ALL >> /tmp/s8/pair2.out
