#!/bin/bash
# steady-state step time of the 15-minute recipe, per path and optimizer (300 steps each, one at a time)
cd /work/main && . .venv/bin/activate
R="--hidden_size 384 --num_layers 2 --embedding_size 256 --dropout 0.1 --weight_drop 0 --weight_decay 0.3 --multiplicative_integration true"
for run in "layer-groups-bf16 muon" "layer-groups muon" "layer-groups-bf16 adam" "layer-groups adam"; do
  set -- $run
  python scripts/train.py --train_data tfcharrnn/assets/tinyshakespeare.txt --seed 7 --max_steps 300 --eval_val_every 0 --sample_length 0 \
    $R --optimizer $2 --train_path $1 --checkpoint_dir /tmp/s13/ck-$1-$2 > /tmp/s13/speed-$1-$2.log 2>&1
done
touch /tmp/s13/speed.done
