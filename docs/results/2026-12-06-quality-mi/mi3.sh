cd /tmp/mi
MI=0,1,1 PYTHONPATH=/tmp/mi nohup /work/main/.venv/bin/python scripts/train.py --time_budget 15 --seed 7 --train_data /work/main/tfcharrnn/assets/tinyshakespeare.txt --checkpoint_dir /tmp/p/mi3 > /tmp/p/mi3.log 2>&1
touch /tmp/p/mi3.done
