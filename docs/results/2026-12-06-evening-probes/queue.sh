cd /work/main && /work/main/.venv/bin/python scripts/train.py --time_budget 15 --train_data /work/main/tfcharrnn/assets/tinyshakespeare.txt --seed 7 --checkpoint_dir /tmp/p/base7 > /tmp/p/base7.log 2>&1
touch /tmp/p/base7.done
cd /tmp/zo && ZONEOUT=0.1 PYTHONPATH=/tmp/zo /work/main/.venv/bin/python scripts/train.py --time_budget 15 --train_data /work/main/tfcharrnn/assets/tinyshakespeare.txt --seed 7 --checkpoint_dir /tmp/p/zo10s7 > /tmp/p/zo10s7.log 2>&1
touch /tmp/p/zo10s7.done
