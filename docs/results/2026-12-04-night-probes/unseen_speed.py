"""Time the training step on the Chinese text with the unseen share on and off (same model, same batch)."""
import sys, time
import numpy as np
import tensorflow as tf
from tfcharrnn.training import TrainConfig, Trainer
from tfcharrnn.training.steps import Steps

cfg = TrainConfig(train_data=sys.argv[1], hidden_size=256, num_layers=2, max_steps=1, quiet=True, checkpoint_dir="/tmp/exp/speed",
                  train_path="step-groups", dropout=0.0, weight_drop=0.0, weight_decay=0.1, eval_val_every=0, sample_every=0)
t = Trainer(cfg)
x, y = next(iter(t.train_batches(0)))
state = t.dist.zero_state(t.model)
lr = tf.constant(1e-4)
for name, unseen in (("off", None), ("on", t.unseen), ("off", None), ("on", t.unseen)):
    steps = Steps(t.model, t.optimizer, t.dist, t.path, cfg, unseen)
    for _ in range(3):
        float(steps.train(x, y, state, lr)[0])
    t0 = time.perf_counter()
    for _ in range(15):
        float(steps.train(x, y, state, lr)[0])
    print(name, f"{(time.perf_counter() - t0) / 15 * 1000:.1f} ms/step", flush=True)
