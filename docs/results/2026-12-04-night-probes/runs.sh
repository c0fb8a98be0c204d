# the runs in the order they ran, one after the other (run.sh: one run); ZH: the Chinese text
# at 921ef86
/tmp/exp/run.sh p1-15-decay05 --time_budget 15 --lr_decay_frac 0.5
/tmp/exp/run.sh p2-15-3x384 --time_budget 15 --num_layers 3     # stopped by hand at step 2,204
/tmp/exp/run.sh z1-3-base --time_budget 3 --train_data $ZH
/tmp/exp/run.sh z2-3-drop --time_budget 3 --train_data $ZH --dropout 0.25 --weight_drop 0.1
python zh_split.py /tmp/exp/z1-3-base $ZH; python zh_split.py /tmp/exp/z2-3-drop $ZH
# at 8e646d8
/tmp/exp/run.sh t3-base --time_budget 3
/tmp/exp/run.sh t3-b64s50 --time_budget 3 --batch_size 64 --seq_length 50
/tmp/exp/run.sh noflag
/tmp/exp/run.sh t3-s50 --time_budget 3 --seq_length 50
# at dff726d
/tmp/exp/run.sh z3-3-unseen --time_budget 3 --train_data $ZH
# at f8f1a05
/tmp/exp/run.sh z4-3-unseen --time_budget 3 --train_data $ZH
python zh_split.py /tmp/exp/z4-3-unseen $ZH
