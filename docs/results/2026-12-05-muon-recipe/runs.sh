# the runs in the order they ran, one after the other on the same VM, nothing else running; each
# `../2026-12-04-night-probes/run.sh NAME FLAGS` (one `python scripts/train.py` from a worktree of cc0c80a)
T=/work/shared/data/tinyshakespeare.txt   # Tiny Shakespeare
C=code-py3.11.txt                          # benchmarks.corpora.corpus_file("code", ...)
run.sh n1-15-muon-d01-s7 --train_data $T --time_budget 15 --optimizer muon --dropout 0.1 --weight_drop 0 --seed 7
run.sh n2-15-code-muon-d01 --train_data $C --time_budget 15 --optimizer muon --dropout 0.1 --weight_drop 0
run.sh n3-15-code-adam --train_data $C --time_budget 15
# then, at be8fdc0 (the recipe's 10-30 pass class on Muon), from a worktree of it: the race in ../2026-12-05-quality-15-muon
# after the race and the CI run, from the same worktree of be8fdc0 (/tmp/wt2): the recipe's Muon class with weight drop added
run.sh n4-15-recipe-wd01 --train_data $T --time_budget 15 --weight_drop 0.1
run.sh n5-15-recipe-wd01-s7 --train_data $T --time_budget 15 --weight_drop 0.1 --seed 7   # from a worktree of f7ac3dd (the same code)
