import time, tensorflow as tf
from tfcharrnn.training import TrainConfig, Trainer
cfg = TrainConfig(train_data="tfcharrnn/assets/tinyshakespeare.txt", time_budget=3, max_steps=1, checkpoint_dir="/tmp/exp/evalt", quiet=True)
t = Trainer(cfg)
print("path", t.path.name, t.model.recurrence if hasattr(t.model, "recurrence") else "")
def timeit(label):
    t.evaluate(t.corpus.val)
    ts = []
    for _ in range(3):
        t0 = time.perf_counter(); v = t.evaluate(t.corpus.val); ts.append(time.perf_counter() - t0)
    print(label, f"{v:.6f}", [round(x, 3) for x in ts], flush=True)
timeit("graph")
t.steps.evaluate = tf.function(t.steps._evaluate, jit_compile=True, reduce_retracing=True)
timeit("xla  ")
