#!/bin/bash
# the LSTM peer with the race's settings at learning rate 0.007, seed 7: the pair of lr7.log (its 0.005 run: evening-probes/torch-seed7.log, 1.3749)
while [ ! -e /tmp/s13/bigram.done ]; do sleep 10; done
cd /work/main && .venv/bin/python -c "
from benchmarks.lstm_peer import set_threads, train, print_result
set_threads(0, 'torch')
s = {'model': 'lstm', 'hidden_size': 384, 'num_layers': 2, 'embedding_size': 256, 'dropout': 0.1, 'seq_length': 100, 'weight_decay': 0.3, 'adam_beta2': 0.99, 'optimizer': 'muon', 'lr_schedule': 'wsd', 'min_lr_frac': 0.05, 'lr_decay_frac': 0.3, 'learning_rate': 0.007, 'batch_size': 32}
print_result(train('/work/main/tfcharrnn/assets/tinyshakespeare.txt', 15, s, seed=7))
" > /tmp/s13/torch-lr7.log 2>&1
touch /tmp/s13/torch-lr7.done
