# the runs in the order they ran, one after the other on the same VM (Intel Xeon, 2 cores, AVX-512,
# AVX512_BF16, AMX), nothing else timed running; each `../2026-12-04-night-probes/run.sh NAME FLAGS`
# (one `python scripts/train.py`) from a worktree of the commit named, patched where the line says so
T=/work/shared/data/tinyshakespeare.txt   # Tiny Shakespeare
# --- at 339635c (the recipe's Muon class with weight decay 0.1)
# that class (15 minutes) with weight decay 0.2; its pair: r2 (../2026-12-05-morning-probes, 1.3797)
run.sh d2-15-wd02 --train_data $T --time_budget 15 --weight_decay 0.2
# the output layer reading every layer's output (Graves 2013's skip connections; skip.patch), 3 minutes
# (the Adam class), two seeds, each with its pair from the unpatched tree. The first k1-3-skip and
# k2-3-skip-s7 stopped at their first sample (the patch's first form left the generation loop's stepper
# reading the top layer only) and were run again after k1-3-base, as below; the first queue's k2-3-base-s7,
# which started after them, ran beside the rerun of k1-3-skip for its first ~6 seconds (start-up) before
# it was stopped, and ran again alone at the end.
run.sh k1-3-base --train_data $T --time_budget 3
run.sh k1-3-skip --train_data $T --time_budget 3            # skip.patch
run.sh k2-3-skip-s7 --train_data $T --time_budget 3 --seed 7   # skip.patch
run.sh k2-3-base-s7 --train_data $T --time_budget 3 --seed 7
# decay 0.2, the second seed; its pair: s1 (../2026-12-05-morning-probes, 1.3875)
run.sh d3-15-wd02-s7 --train_data $T --time_budget 15 --weight_decay 0.2 --seed 7
# the LSTM peer with that decay: the settings the 12-05 race gave it (../2026-12-05-quality-15-muon), "weight_decay" 0.2
S='{"model": "lstm", "hidden_size": 384, "num_layers": 2, "embedding_size": 64, "dropout": 0.1, "seq_length": 100, "weight_decay": 0.2, "adam_beta2": 0.99, "optimizer": "muon", "lr_schedule": "wsd", "min_lr_frac": 0.05, "lr_decay_frac": 0.3, "learning_rate": 0.005, "batch_size": 32}'
python -m benchmarks.lstm_peer --corpus $T --minutes 15 --settings "$S" > logs/p2-15-torch-wd02.log
# --- at 2ce402f (decay 0.2 in the recipe's Muon class, 1d6e5e8; skip connections in the model); the autotuner's
# cache warmed first for the new shape key (one --max_steps 1 run per shape, not timed)
run.sh k3-15-skip --train_data $T --time_budget 15
# (here the 3-minute race ran: ../2026-12-05-quality-3-skip/) the no-flag run at 2ce402f (12 minutes); its pairs:
# r3 (decay 0.1, ../2026-12-05-morning-probes, 1.3842) and the 12-05 race's (decay 0.05, 1.4058)
run.sh k4-noflag
