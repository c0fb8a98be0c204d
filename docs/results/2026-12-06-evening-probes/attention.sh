cd /tmp/at && ATTN=128 PYTHONPATH=/tmp/at /work/main/.venv/bin/python scripts/train.py --time_budget 15 --train_data /work/main/tfcharrnn/assets/tinyshakespeare.txt --seed 7 --sample_length 0 --checkpoint_dir /tmp/p/at128s7 > /tmp/p/at128s7.log 2>&1
touch /tmp/p/at128s7.done
