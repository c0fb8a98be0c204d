# the runs in the order they ran, one after the other, each `../2026-12-04-night-probes/run.sh NAME FLAGS`
# (one `python scripts/train.py` from a worktree of b99c1f3 with probe.patch applied: PROBE_OPT=muon builds
# Keras' Muon where the trainer builds Adam, PROBE_RMS its rms_rate, PROBE_NS_DTYPE its Newton-Schulz dtype)
T=/work/shared/data/tinyshakespeare.txt   # Tiny Shakespeare
C=code-py3.11.txt                          # benchmarks.corpora.corpus_file("code", ...)
ZH=chinese.txt                             # benchmarks.corpora.corpus_file("chinese", ...)
PROBE_OPT=muon PROBE_RMS=0.4 run.sh m1-3-muon-r04 --train_data $T --time_budget 3
run.sh m0-3-base --train_data $T --time_budget 3
python nsbench.py > nsbench.out
PROBE_OPT=muon PROBE_RMS=0.4 PROBE_NS_DTYPE=bfloat16 run.sh m2-3-muon-r04-bf --train_data $T --time_budget 3
PROBE_OPT=muon PROBE_RMS=0.6 PROBE_NS_DTYPE=bfloat16 run.sh m3-3-muon-r06-bf --train_data $T --time_budget 3
PROBE_OPT=muon PROBE_RMS=0.3 PROBE_NS_DTYPE=bfloat16 run.sh m4-3-muon-r03-bf --train_data $T --time_budget 3
PROBE_OPT=muon PROBE_RMS=0.4 PROBE_NS_DTYPE=bfloat16 run.sh m5-3-muon-r04-bf-b64 --train_data $T --time_budget 3 --batch_size 64
PROBE_OPT=muon PROBE_RMS=0.4 PROBE_NS_DTYPE=bfloat16 run.sh z5-3-muon-r04-bf --train_data $ZH --time_budget 3
PROBE_OPT=muon PROBE_RMS=0.2 PROBE_NS_DTYPE=bfloat16 run.sh m6-3-muon-r02-bf --train_data $T --time_budget 3
PROBE_OPT=muon PROBE_RMS=0.3 PROBE_NS_DTYPE=bfloat16 run.sh m7-3-muon-r03-bf-s7 --train_data $T --time_budget 3 --seed 7
run.sh m8-3-base-s7 --train_data $T --time_budget 3 --seed 7
PROBE_OPT=muon PROBE_RMS=0.3 PROBE_NS_DTYPE=bfloat16 run.sh c1-3-muon-r03-bf --train_data $C --time_budget 3
run.sh c0-3-base --train_data $C --time_budget 3
PROBE_OPT=muon PROBE_RMS=0.3 PROBE_NS_DTYPE=bfloat16 run.sh m9-15-muon-r03-bf --train_data $T --time_budget 15   # SIGINT by hand at step 2,834
# at 910b63d (--optimizer muon landed), from a worktree of it (run.sh with /tmp/wt2), after the CI run
run.sh k1-3-muon-landed --train_data $T --time_budget 3 --optimizer muon
python -m benchmarks.lstm_peer --corpus $T --minutes 3 --settings '{"learning_rate": 0.005, "batch_size": 32, "optimizer": "muon"}'   # logs/peer-3-muon.log
python -m benchmarks.lstm_peer --corpus $T --minutes 3 --settings '{"learning_rate": 0.005, "batch_size": 32, "optimizer": "adam"}'   # logs/peer-3-adam.log
run.sh k2-3-s50-s7 --train_data $T --time_budget 3 --seq_length 50 --seed 7
PROBE_OPT=muon PROBE_RMS=0.2 PROBE_NS_DTYPE=bfloat16 run.sh c2-3-muon-r02-bf --train_data $C --time_budget 3
run.sh k3-3-code-s50 --train_data $C --time_budget 3 --seq_length 50
run.sh k4-15-muon-d01 --train_data $T --time_budget 15 --optimizer muon --dropout 0.1 --weight_drop 0   # at 910b63d
run.sh k5-15-adam-d01 --train_data $T --time_budget 15 --dropout 0.1 --weight_drop 0   # at 910b63d: Adam with k4's regularisers
