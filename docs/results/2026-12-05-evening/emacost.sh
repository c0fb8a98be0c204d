#!/bin/bash
# what the weights' average costs a step: 400-step runs without it (0) and with it (0.998), A B A; the fourth run (B)
# was stopped (a test run had started beside it). From a worktree of 9287f95 at /tmp/wt3, nothing else running.
cd /tmp/wt3 && . /work/main/.venv/bin/activate
T=/work/shared/data/tinyshakespeare.txt
for i in 1 2; do for e in 0 0.998; do
  rm -rf /tmp/exp/ec
  PYTHONPATH=/tmp/wt3 python scripts/train.py --train_data $T --hidden_size 256 --dropout 0 --weight_drop 0 --weight_decay 0.1 --optimizer adam --max_steps 400 --eval_val_every 0 --sample_length 0 --ema_momentum $e --checkpoint_dir /tmp/exp/ec 2>&1 | grep -E "^ +(150|200|250|300|350|400) \|" | awk -v e=$e '{print "ema", e, $0}'
done; done
