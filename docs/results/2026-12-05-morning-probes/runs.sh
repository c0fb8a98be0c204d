# the runs in the order they ran, one after the other on the same VM (Intel Xeon, 2 cores, AVX-512,
# AVX512_BF16, AMX), nothing else running; each `../2026-12-04-night-probes/run.sh NAME FLAGS` (one
# `python scripts/train.py`) from a worktree of abdeaa6, patched where the line says so
T=/work/shared/data/tinyshakespeare.txt   # Tiny Shakespeare
# the weight-drop lead, a third pair: the no-flag run (12 minutes) with weight drop; its pair is the
# 12-05 race's no-flag run (../2026-12-05-quality-15-muon: 1.4058)
run.sh q1-noflag-wd01 --weight_drop 0.1
# dropout's masks held over time (one per sequence, "locked" / variational), locked.patch; its pair is k4 (1.3990)
PROBE_LOCKED=1 run.sh q2-15-locked --train_data $T --time_budget 15
# an AVX2 machine's settings on this VM: oneDNN off (as tfcharrnn leaves it on AVX2 CPUs) and Muon's
# Newton-Schulz in float32 (f32.patch: native_bfloat16() answers no); a fresh autotune cache
export PROBE_F32=1 TF_ENABLE_ONEDNN_OPTS=0 TFCHARRNN_CACHE=/tmp/exp/avx2cache
A="--train_data $T --hidden_size 384 --dropout 0.1 --weight_drop 0 --weight_decay 0.05 --max_steps 400 --print_every 50 --eval_val_every 1000"
run.sh a1-avx2-muon $A --optimizer muon
run.sh a2-avx2-adam $A --optimizer adam
run.sh a3-avx2-muon $A --optimizer muon
run.sh a4-avx2-adam $A --optimizer adam
# the same settings, 15 minutes: the recipe (its Muon class) against the Adam class it replaced
run.sh e1-avx2-15-recipe --train_data $T --time_budget 15
run.sh e2-avx2-15-adam --train_data $T --time_budget 15 --optimizer adam --dropout 0.25 --weight_drop 0.1
unset PROBE_F32 TF_ENABLE_ONEDNN_OPTS TFCHARRNN_CACHE
# the recipe's Muon class (15 minutes) with a stronger dropout, then a stronger weight decay; pairs: k4 (1.3990), q2
run.sh r1-15-d015 --train_data $T --time_budget 15 --dropout 0.15
run.sh r2-15-wd01 --train_data $T --time_budget 15 --weight_decay 0.1
# the LSTM peer with that decay: the settings the 12-05 race gave it (../2026-12-05-quality-15-muon), "weight_decay" 0.1
S='{"model": "lstm", "hidden_size": 384, "num_layers": 2, "embedding_size": 64, "dropout": 0.1, "seq_length": 100, "weight_decay": 0.1, "adam_beta2": 0.99, "optimizer": "muon", "lr_schedule": "wsd", "min_lr_frac": 0.05, "lr_decay_frac": 0.3, "learning_rate": 0.005, "batch_size": 32}'
python -m benchmarks.lstm_peer --corpus $T --minutes 15 --settings "$S" > logs/p1-15-torch-wd01.log
# the no-flag run (12 minutes) with that decay; its pair: the 12-05 race's no-flag run (1.4058)
run.sh r3-noflag-wd01 --weight_decay 0.1
# at 0dea92b (decay 0.1 in the recipe), a second seed; its pair: n1 (../2026-12-05-muon-recipe, 1.3992)
run.sh s1-15-wd01-s7 --train_data $T --time_budget 15 --seed 7
