# the runs in the order they ran, one after the other on the same VM (Intel Xeon, 2 cores, AVX-512,
# AVX512_BF16, AMX; oneDNN on), nothing else timed running; each `../2026-12-04-night-probes/run.sh NAME FLAGS`
# (one `python scripts/train.py`) from a worktree of c6577f6 (the recipe of 2ce402f: skip connections,
# the Muon class with weight decay 0.2, moving average 0.995). The autotuner's cache warmed first for each
# shape (one --max_steps 1 run with the shape's flags and dropout, not timed).
T=/work/shared/data/tinyshakespeare.txt   # Tiny Shakespeare
# the 15-minute class (2x384, Muon, dropout 0.1, decay 0.2, skip connections); its pair: k3 (../2026-12-05-decay, 1.3696)
run.sh m1-15-wd03 --train_data $T --time_budget 15 --weight_decay 0.3
run.sh m2-15-do015 --train_data $T --time_budget 15 --dropout 0.15
# 3 minutes: a GRU against the LSTM (the same hour's pair). The GRU's recipe gave it the 7-10-pass class
# (its step has 3/4 of the LSTM's multiply-adds, so 7.8 passes were estimated): dropout 0.25, weight drop 0.1;
# its cache entry (dropout on) was timed in the run (10.5 s). g2 (a GRU of the LSTM's cost) was stopped by hand
# at step 51 once g1 had ended 0.053 behind; g3 (after m4) gave the GRU the LSTM's regularisers.
run.sh g0-3-base --train_data $T --time_budget 3
run.sh g1-3-gru --train_data $T --time_budget 3 --model gru
run.sh g2-3-gru288 --train_data $T --time_budget 3 --model gru --hidden_size 288
# decay 0.3, the second seed; its pair: d3 (../2026-12-05-decay: 0.2 without skip connections, 1.3729)
run.sh m3-15-wd03-s7 --train_data $T --time_budget 15 --weight_decay 0.3 --seed 7
# the LSTM peer with that decay: the settings the 12-05 race gave it (../2026-12-05-quality-15-muon), "weight_decay" 0.3
S='{"model": "lstm", "hidden_size": 384, "num_layers": 2, "embedding_size": 64, "dropout": 0.1, "seq_length": 100, "weight_decay": 0.3, "adam_beta2": 0.99, "optimizer": "muon", "lr_schedule": "wsd", "min_lr_frac": 0.05, "lr_decay_frac": 0.3, "learning_rate": 0.005, "batch_size": 32}'
python -m benchmarks.lstm_peer --corpus $T --minutes 15 --settings "$S" > logs/p3-15-torch-wd03.log
# the moving average over up to 500 steps (0.998) instead of 200 (0.995); its pair: m1 (the same run until step ~2,000)
run.sh m4-15-wd03-ema998 --train_data $T --time_budget 15 --weight_decay 0.3 --ema_momentum 0.998
run.sh g3-3-gru-noreg --train_data $T --time_budget 3 --model gru --dropout 0 --weight_drop 0 --weight_decay 0.1
# --- at f5123ab (decay 0.3 in the Muon class, 3bae3d7; the average at 0.998, f5123ab), after .ci/run on a clean clone
run.sh n1-noflag
run.sh m5-15-s7 --train_data $T --time_budget 15 --seed 7
