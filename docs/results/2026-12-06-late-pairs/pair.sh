#!/bin/bash
# one after another: today's default at 15 minutes, seed 7 (rate 0.01: the control for lr14), then the LSTM peer at its best rate, seed 7
cd /work/main && . .venv/bin/activate
python scripts/train.py --time_budget 15 --train_data /work/main/tfcharrnn/assets/tinyshakespeare.txt --seed 7 \
  --checkpoint_dir /tmp/s14/lr10 > /tmp/s14/lr10.log 2>&1
cp /tmp/s14/lr10/metrics.jsonl /tmp/s14/lr10-metrics.jsonl
touch /tmp/s14/lr10.done
python -c "
from benchmarks.lstm_peer import set_threads, print_result, train
set_threads(0, 'torch')
s = {'model':'lstm','hidden_size':384,'num_layers':2,'embedding_size':256,'dropout':0.1,'seq_length':100,'weight_decay':0.3,'adam_beta2':0.99,'optimizer':'muon','lr_schedule':'wsd','min_lr_frac':0.05,'lr_decay_frac':0.3,'learning_rate':0.007,'batch_size':32}
print_result(train('/work/main/tfcharrnn/assets/tinyshakespeare.txt', 15, s, seed=7))
" > /tmp/s14/torch-lr7.log 2>&1
touch /tmp/s14/torch-lr7.done
