cd /tmp/zo && ZONEOUT=0.1 PYTHONPATH=/tmp/zo /work/main/.venv/bin/python scripts/train.py --time_budget 15 --train_data /work/main/tfcharrnn/assets/tinyshakespeare.txt --checkpoint_dir /tmp/p/zo10 > /tmp/p/zo10.log 2>&1
touch /tmp/p/zo10.done
