cd /work/main && .venv/bin/python scripts/train.py --time_budget 15 --train_data /work/main/tfcharrnn/assets/tinyshakespeare.txt --seed 7 --matmul_dtype bfloat16 --checkpoint_dir /tmp/p/bf16s7 > /tmp/p/bf16s7.log 2>&1
touch /tmp/p/bf16s7.done
