#!/bin/sh
# Fine-tuning against training from scratch, the same model and steps (fixed steps, not a timed race).
# Base: a 2x256 LSTM trained 1,000 steps on Tiny Shakespeare. New text: Vim's French tutor
# (/usr/share/vim/vim90/tutor/tutor.fr.utf-8, Debian's vim-runtime: 38,502 characters, 41 of them
# absent from Tiny Shakespeare, such as é, à, ç, digits and brackets).
# The speeds in the log come from a shared, busy 2-core machine: not a measure of anything.
# Result (output.txt): validation before fine-tuning 5.5269 nats/char; best 1.8860 fine-tuned (step 150) against
# 2.0274 from scratch (step 200); at step 50, 1.9605 against 2.3762.
# Run from the repository root: sh docs/results/2026-12-03-finetune/run.sh > docs/results/2026-12-03-finetune/output.txt 2>&1
set -e
TEXT=/usr/share/vim/vim90/tutor/tutor.fr.utf-8
OUT=runs/finetune-measure
rm -rf $OUT
python scripts/train.py --max_steps 1000 --checkpoint_dir $OUT/shakespeare --sample_every 0
echo "==== fine-tuned"
python scripts/train.py --finetune_from $OUT/shakespeare --train_data $TEXT --max_steps 200 --eval_val_every 50 \
    --sample_every 0 --checkpoint_dir $OUT/tutor-finetuned
echo "==== from scratch"
python scripts/train.py --hidden_size 256 --num_layers 2 --train_data $TEXT --max_steps 200 --eval_val_every 50 \
    --sample_every 0 --checkpoint_dir $OUT/tutor-scratch
