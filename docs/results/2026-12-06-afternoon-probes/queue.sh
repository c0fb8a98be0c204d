# one timed run at a time: wait for CI and the per-step probes
while pgrep -f "pytest -q" > /dev/null || [ ! -f /tmp/p/mlb1000.done ]; do sleep 10; done
DATA=/work/main/tfcharrnn/assets/tinyshakespeare.txt
date > /tmp/p/zo50.start
cd /tmp/zo && ZONEOUT=0.5 PYTHONPATH=/tmp/zo /work/main/.venv/bin/python scripts/train.py --time_budget 15 --train_data $DATA --checkpoint_dir /tmp/p/zo50 > /tmp/p/zo50.log 2>&1
touch /tmp/p/zo50.done
cd /work/main && .venv/bin/python scripts/bench.py --only quality --quality-minutes 15 --quality-corpora shakespeare --quality-peers tfcharrnn,torch --tmp-dir /tmp/exp/corpora --out /tmp/p/race15amd > /tmp/p/race15amd.out 2>&1
touch /tmp/p/race.done
