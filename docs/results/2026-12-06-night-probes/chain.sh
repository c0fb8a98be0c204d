#!/bin/bash
# after the averaging probe: the checks of the rate change (not timed), then the LSTM peer at its best rate, seed 123
while [ ! -e /tmp/s13/avg.done ]; do sleep 10; done
cd /work/main && . .venv/bin/activate
python scripts/flags_doc.py > docs/flags.md 2> /tmp/s13/flags_doc.err
ruff check . > /tmp/s13/ruff.log 2>&1
python -m pytest -q -x tests/test_recipe.py tests/test_bench.py tests/test_docs.py tests/test_layout.py tests/test_flags.py tests/test_checkpoint_compat.py > /tmp/s13/tests.log 2>&1
touch /tmp/s13/tests.done
.venv/bin/python -c "
from benchmarks.lstm_peer import set_threads, train, print_result
set_threads(0, 'torch')
s = {'model': 'lstm', 'hidden_size': 384, 'num_layers': 2, 'embedding_size': 256, 'dropout': 0.1, 'seq_length': 100, 'weight_decay': 0.3, 'adam_beta2': 0.99, 'optimizer': 'muon', 'lr_schedule': 'wsd', 'min_lr_frac': 0.05, 'lr_decay_frac': 0.3, 'learning_rate': 0.007, 'batch_size': 32}
print_result(train('/work/main/tfcharrnn/assets/tinyshakespeare.txt', 15, s, seed=123))
" > /tmp/s13/torch-lr7s123.log 2>&1
touch /tmp/s13/torch-lr7s123.done
