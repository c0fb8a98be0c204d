# the runs in the order they ran, one after the other (run.sh: one run)
/tmp/exp/run.sh e1-15-bf16 --time_budget 15 --matmul_dtype bfloat16
/tmp/exp/run.sh e2-15-reg3 --time_budget 15 --dropout 0.3 --weight_drop 0.15 --weight_decay 0.1
/tmp/exp/run.sh e3-15-512 --time_budget 15 --hidden_size 512
/tmp/exp/run.sh t3-base --time_budget 3
/tmp/exp/run.sh t3-lr4 --time_budget 3 --learning_rate 0.004
/tmp/exp/run.sh t3-wd2 --time_budget 3 --weight_decay 0.2
/tmp/exp/run.sh e4-15-512-bf16 --time_budget 15 --hidden_size 512 --matmul_dtype bfloat16
/tmp/exp/run.sh noflag
/tmp/exp/run.sh t3-3x256 --time_budget 3 --num_layers 3
/tmp/exp/run.sh t3-bf16 --time_budget 3 --matmul_dtype bfloat16
/tmp/exp/run.sh e6-15-base-seed7 --time_budget 15 --seed 7
/tmp/exp/run.sh e7-15-512-bf16-seed7 --time_budget 15 --hidden_size 512 --matmul_dtype bfloat16 --seed 7
