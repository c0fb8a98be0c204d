"""Quality experiment runner: python exp.py NAME field=value ... [init=torch] [sched=wsd|onecycle]"""
import sys, json, time, math, os
sys.path.insert(0, os.environ.get("TFC_ROOT", "/work/wt/exp"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
name, kv = sys.argv[1], dict(a.split("=", 1) for a in sys.argv[2:])
init = kv.pop("init", "keras"); sched = kv.pop("sched", "cosine"); beta2 = kv.pop("beta2", None)
from tfcharrnn.training import TrainConfig, Trainer
import tfcharrnn.training.trainer as loop_mod
from tfcharrnn.training.config import learning_rate as base_lr
fields = TrainConfig.__dataclass_fields__
def conv(k, v):
    t = type(getattr(TrainConfig(), k))
    if t is bool: return v.lower() in ("1", "true")
    if t in (int, float): return t(v)
    return None if v == "None" else v
args = {k: conv(k, v) for k, v in kv.items()}
args.setdefault("train_path", "step-groups"); args.setdefault("sample_every", 0); args.setdefault("sample_length", 0)
args.setdefault("checkpoint_dir", f"/tmp/q/runs/{name}"); args.setdefault("max_epochs", 0); args.setdefault("iters_to_report", 250)
args.setdefault("tensorboard", False)
cfg = TrainConfig(**args)
if sched != "cosine":
    def lr_fn(c, step, epoch, elapsed):
        total = c.max_steps
        p = min(1.0, step / total)
        lr = c.learning_rate
        if sched == "wsd":  # warmup 2%, stable, linear decay over last 30% to min
            if p < 0.02: return lr * (step + 1) / (0.02 * total)
            if p < 0.7: return lr
            return lr * (c.min_lr_frac + (1 - c.min_lr_frac) * (1 - (p - 0.7) / 0.3))
        if sched == "onecycle":  # 25% up from lr/10, cosine down to min
            if p < 0.25: return lr * (0.1 + 0.9 * p / 0.25)
            q = (p - 0.25) / 0.75
            return lr * (c.min_lr_frac + (1 - c.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * q)))
        if sched == "cosine_warm":
            w = int(os.environ.get("WARM", "100"))
            if step < w: return lr * (step + 1) / w
            return base_lr(c, step, epoch, elapsed)
        raise ValueError(sched)
    loop_mod.learning_rate = lr_fn
if beta2:
    import keras
    _Adam = keras.optimizers.Adam
    keras.optimizers.Adam = lambda *a, **k: _Adam(*a, beta_2=float(beta2), **k)
t = Trainer(cfg)
if init == "torch" or init.startswith("torch"):
    rs = np.random.RandomState(cfg.seed)
    m = t.model
    for layer in m.rnn_layers:
        c = layer.cell; k = 1 / math.sqrt(cfg.hidden_size)
        for v in (c.kernel, c.recurrent_kernel):
            v.assign(rs.uniform(-k, k, v.shape).astype("float32"))
        b = rs.uniform(-k, k, c.bias.shape) + rs.uniform(-k, k, c.bias.shape)
        c.bias.assign(b.astype("float32"))
    if init != "torch_keephead":
        k = 1 / math.sqrt(cfg.hidden_size)
        m.head.kernel.assign(rs.uniform(-k, k, m.head.kernel.shape).astype("float32"))
        m.head.bias.assign(rs.uniform(-k, k, m.head.bias.shape).astype("float32"))
elif init == "fb0":  # forget bias 0
    for layer in t.model.rnn_layers:
        b = layer.cell.bias.numpy(); H = cfg.hidden_size; b[H:2*H] = 0; layer.cell.bias.assign(b)
elif init == "emb01":
    e = t.model.embedding.embeddings; e.assign(e.numpy() * 0.1)
t0 = time.time()
vals = []
orig = t._validate
def rv():
    v = orig(); vals.append((t.state.step, v)); return v
t._validate = rv
r = t.run()
hist = t.history
tail = [l for s, l in hist[-200:]]
out = {"name": name, "init": init, "sched": sched, "beta2": beta2, **{k: v for k, v in kv.items()}, "steps": r["step"], "epochs": round(r["epoch"], 2),
       "final_val": round(r["val_loss"], 4), "best_val": round(min(v for s, v in vals if v is not None), 4),
       "vals": [(s, round(v, 4)) for s, v in vals], "train_tail": round(float(np.mean(tail)), 4), "wall_s": round(time.time() - t0)}
print("RESULT", json.dumps(out), flush=True)
with open("/tmp/q/results.jsonl", "a") as f:
    f.write(json.dumps(out) + "\n")
