#!/bin/bash
# after lr10: if 0.01 beat 0.007 (1.3500), the LSTM peer at 0.01 (seed 7); else tfcharrnn at 0.007 with seed 123
while [ ! -e /tmp/s13/lr10.done ]; do sleep 10; done
best=$(grep -o "validation [0-9.]* at the end" /tmp/s13/lr10.log | grep -o "[0-9]\.[0-9]*")
cd /work/main
if python3 -c "import sys; sys.exit(0 if float('$best') < 1.3500 else 1)"; then
  echo "lr10 $best: the peer at 0.01" > /tmp/s13/next.choice
  .venv/bin/python -c "
from benchmarks.lstm_peer import set_threads, train, print_result
set_threads(0, 'torch')
s = {'model': 'lstm', 'hidden_size': 384, 'num_layers': 2, 'embedding_size': 256, 'dropout': 0.1, 'seq_length': 100, 'weight_decay': 0.3, 'adam_beta2': 0.99, 'optimizer': 'muon', 'lr_schedule': 'wsd', 'min_lr_frac': 0.05, 'lr_decay_frac': 0.3, 'learning_rate': 0.01, 'batch_size': 32}
print_result(train('/work/main/tfcharrnn/assets/tinyshakespeare.txt', 15, s, seed=7))
" > /tmp/s13/torch-lr10.log 2>&1
else
  echo "lr10 $best: tfcharrnn at 0.007, seed 123" > /tmp/s13/next.choice
  .venv/bin/python scripts/train.py --time_budget 15 --train_data /work/main/tfcharrnn/assets/tinyshakespeare.txt --seed 123 \
    --learning_rate 0.007 --checkpoint_dir /tmp/s13/lr7s123 > /tmp/s13/lr7s123.log 2>&1
fi
touch /tmp/s13/next.done
