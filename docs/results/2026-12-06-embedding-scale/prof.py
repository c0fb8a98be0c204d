"""Where the 3-minute step's time goes: the trainer's step against the compiled step alone."""
import sys, time
import tensorflow as tf
from tfcharrnn.training import TrainConfig
from tfcharrnn.training.trainer import Trainer

SH = "/work/shared/data/tinyshakespeare.txt"
ema = float(sys.argv[1]) if len(sys.argv) > 1 else None
kw = dict(train_data=SH, time_budget=3, checkpoint_dir="/tmp/s8/prof", quiet=True)
if ema is not None:
    kw["ema_momentum"] = ema
tr = Trainer(TrainConfig(**kw))
batches = []
for xy in tr.train_batches(0):
    batches.append(xy)
    if len(batches) == 150:
        break
state = tr.model.initial_state(32)
lr = tf.constant(5e-3, tf.float32)
for x, y in batches[:5]:
    loss, state = tr.steps.train(x, y, state, lr); float(loss)

def timed(label, fn, n=3):
    best = []
    for _ in range(n):
        t = time.perf_counter(); fn(); best.append((time.perf_counter() - t) / 100 * 1000)
    print(f"{label}: {' / '.join(f'{b:.1f}' for b in best)} ms a step", flush=True)

def synced():
    global state
    for x, y in batches[:100]:
        loss, state = tr.steps.train(x, y, state, lr); float(loss)
def unsynced():
    global state
    for x, y in batches[:100]:
        loss, state = tr.steps.train(x, y, state, lr)
    float(loss)
def fresh_batches():
    global state
    n = 0
    for x, y in tr.train_batches(1):
        loss, state = tr.steps.train(x, y, state, lr); float(loss)
        n += 1
        if n == 100: break
timed("compiled step, stored batches, loss read each step", synced)
timed("compiled step, stored batches, loss read once", unsynced)
timed("compiled step, batches from the pipeline", fresh_batches)
