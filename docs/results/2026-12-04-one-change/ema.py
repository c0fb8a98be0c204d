"""python ema.py NAME MOMENTUM [field=value ...]: a 3-minute run with Adam's EMA; raw and EMA validation at the end."""
import sys, os, json, time
sys.path.insert(0, "/work/main")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
name, mom = sys.argv[1], float(sys.argv[2])
kv = dict(a.split("=", 1) for a in sys.argv[3:])
import keras
_Adam = keras.optimizers.Adam
keras.optimizers.Adam = lambda *a, **k: _Adam(*a, use_ema=True, ema_momentum=mom, **k)
from tfcharrnn.training import TrainConfig, Trainer
args = dict(time_budget=3.0, patience=0, sample_every=0, sample_length=0, tensorboard=False, checkpoint_dir=f"/tmp/q/runs/{name}")
for k, v in kv.items():
    t = type(getattr(TrainConfig(), k)); args[k] = t(v) if t in (int, float) else float(v) if k in ("dropout", "weight_decay", "weight_drop") else v
t = Trainer(TrainConfig(**args))
r = t.run()
raw = t.evaluate(t.corpus.val)
t.optimizer.finalize_variable_values(t.model.trainable_variables)
ema = t.evaluate(t.corpus.val)
out = {"name": name, "momentum": mom, **kv, "steps": r["step"], "epochs": round(r["epoch"], 2), "raw_val": round(raw, 4), "ema_val": round(ema, 4)}
print("RESULT", json.dumps(out), flush=True)
open("/tmp/q/results.jsonl", "a").write(json.dumps(out) + "\n")
