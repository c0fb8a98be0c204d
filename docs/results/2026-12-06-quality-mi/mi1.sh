cd /tmp/mi
MI=1,0.5,0.5 PYTHONPATH=/tmp/mi nohup /work/main/.venv/bin/python scripts/train.py --time_budget 15 --train_data /work/main/tfcharrnn/assets/tinyshakespeare.txt --checkpoint_dir /tmp/p/mi1 > /tmp/p/mi1.log 2>&1
touch /tmp/p/mi1.done
