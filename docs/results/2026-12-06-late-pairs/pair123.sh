#!/bin/bash
# after pair.sh: today's default at 15 minutes, seed 123, then the LSTM peer at its best rate (0.007), seed 123
while [ ! -f /tmp/s14/torch-lr7.done ]; do sleep 5; done
cd /work/main && . .venv/bin/activate
python scripts/train.py --time_budget 15 --train_data /work/main/tfcharrnn/assets/tinyshakespeare.txt --seed 123 \
  --checkpoint_dir /tmp/s14/s123 > /tmp/s14/s123.log 2>&1
cp /tmp/s14/s123/metrics.jsonl /tmp/s14/s123-metrics.jsonl
touch /tmp/s14/s123.done
python -c "
from benchmarks.lstm_peer import set_threads, print_result, train
set_threads(0, 'torch')
s = {'model':'lstm','hidden_size':384,'num_layers':2,'embedding_size':256,'dropout':0.1,'seq_length':100,'weight_decay':0.3,'adam_beta2':0.99,'optimizer':'muon','lr_schedule':'wsd','min_lr_frac':0.05,'lr_decay_frac':0.3,'learning_rate':0.007,'batch_size':32}
print_result(train('/work/main/tfcharrnn/assets/tinyshakespeare.txt', 15, s, seed=123))
" > /tmp/s14/torch-lr7-s123.log 2>&1
touch /tmp/s14/torch-lr7-s123.done
