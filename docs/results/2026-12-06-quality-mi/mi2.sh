cd /tmp/mi
MI=0,1,1 PYTHONPATH=/tmp/mi nohup /work/main/.venv/bin/python scripts/train.py --time_budget 15 --train_data /work/main/tfcharrnn/assets/tinyshakespeare.txt --checkpoint_dir /tmp/p/mi2 > /tmp/p/mi2.log 2>&1
touch /tmp/p/mi2.done
