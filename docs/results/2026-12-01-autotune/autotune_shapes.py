"""The four shapes timed in output.txt: the benchmark's small, medium and medium-gru configurations and the 3-minute default
(2x256 LSTM, batch 32 x 100). Run: python docs/results/2026-12-01-autotune/autotune_shapes.py"""
import tempfile
from tfcharrnn.training import TrainConfig, Trainer
for kind, hidden, layers, batch, seq in (("lstm", 128, 2, 32, 64), ("lstm", 512, 2, 64, 100), ("gru", 512, 2, 64, 100), ("lstm", 256, 2, 32, 100)):
    cfg = TrainConfig(train_data=None, model=kind, hidden_size=hidden, num_layers=layers, batch_size=batch, seq_length=seq, max_steps=10**9,
                      max_epochs=0, quiet=True, eval_val_every=0, sample_every=0, val_frac=0.0 if seq == 64 or hidden == 512 else 0.1,
                      checkpoint_dir=tempfile.mkdtemp())
    t = Trainer(cfg)
    print(kind, hidden, layers, batch, seq, t.path_choice.describe(), flush=True)
