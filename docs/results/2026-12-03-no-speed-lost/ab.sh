#!/bin/bash
. /work/main/.venv/bin/activate
export TF_CPP_MIN_LOG_LEVEL=3
run() { # dir label args...
  local dir=$1 label=$2; shift 2
  cd $dir; rm -rf /tmp/q/abrun
  rate=$(PYTHONPATH=$dir python scripts/train.py "$@" --checkpoint_dir /tmp/q/abrun --eval_val_every 0 --sample_every 0 --sample_length 0 --iters_to_report 50 --tensorboard false 2>&1 | grep -E "^ +[0-9]+ \|" | tail -4 | awk -F'|' '{print $5}' | tr -d ' ,chars/' | tr '\n' ' ')
  echo "$label: $rate"
}
for i in 1 2; do
  run /work/wt/old old-small --kernel step-groups --hidden_size 128 --batch_size 32 --seq_length 64 --max_steps 400
  run /work/main new-small --train_path step-groups --hidden_size 128 --batch_size 32 --seq_length 64 --max_steps 400 --dropout 0 --weight_drop 0 --weight_decay 0 --patience 0
done
for i in 1 2; do
  run /work/wt/old old-256 --kernel step-groups --hidden_size 256 --max_steps 200
  run /work/main new-256 --train_path step-groups --hidden_size 256 --max_steps 200 --dropout 0 --weight_drop 0 --weight_decay 0
  run /work/main new-256-bf16 --train_path layer-groups-bf16 --hidden_size 256 --max_steps 200 --dropout 0 --weight_drop 0 --weight_decay 0
done
for i in 1 2; do
  run /work/main new-384r --train_path step-groups --hidden_size 384 --max_steps 200 --dropout 0.25 --weight_drop 0.1 --weight_decay 0.05
  run /work/main new-384r-bf16 --train_path layer-groups-bf16 --hidden_size 384 --max_steps 200 --dropout 0.25 --weight_drop 0.1 --weight_decay 0.05
  run /work/main new-384r-xla-bf16 --train_path xla-bf16 --hidden_size 384 --max_steps 200 --dropout 0.25 --weight_drop 0.1 --weight_decay 0.05
done
echo DONE
