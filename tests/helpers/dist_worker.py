"""A training process for tests/test_distributed.py (run as a subprocess).

    python dist_worker.py mirrored CORPUS RUN_DIR LAYOUT [regularised]   # default vs mirrored on 2 logical CPUs
    python dist_worker.py worker INDEX PORTS CORPUS RUN_DIR STEPS [resume]   # one MultiWorkerMirrored worker
Prints one JSON line with the per-step losses (and, for a worker, a digest of its final weights).
A RUN_DIR containing "{index}" gives each worker its own directory (to see which ones write).
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # tests/, for conftest.tiny_config
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))  # the repository

mode = sys.argv[1]
if mode == "mirrored":
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
else:
    index, ports = int(sys.argv[2]), sys.argv[3].split(",")
    os.environ["TF_CONFIG"] = json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]}, "task": {"type": "worker", "index": index}})

from conftest import tiny_config  # noqa: E402
from digest import weights_digest  # noqa: E402
from tfcharrnn.errors import run_cli  # noqa: E402
from tfcharrnn.training import Trainer  # noqa: E402


def main(argv):
    out = {}
    if mode == "mirrored":
        corpus, run_dir, layout = sys.argv[2:5]
        # weight drop's mask is one per global batch (each replica draws the same one); weight decay is per variable
        extra = dict(weight_drop=0.3, weight_decay=0.1) if sys.argv[5:] == ["regularised"] else {}
        for strategy in ("default", "mirrored"):
            t = Trainer(tiny_config(corpus, os.path.join(run_dir, strategy), strategy=strategy, max_steps=12, layout=layout, stride=16, **extra))
            result = t.run()
            out[strategy] = {"replicas": t.dist.replicas, "losses": [loss for _, loss in t.history], "val": result["val_loss"]}
    else:
        corpus, run_dir, steps = sys.argv[4], sys.argv[5].replace("{index}", str(index)), int(sys.argv[6])
        cfg = tiny_config(corpus, run_dir, strategy="multiworker", max_steps=steps, resume=len(sys.argv) > 7,
                          iters_to_report=5, eval_val_every=10, quiet=False)
        t = Trainer(cfg)
        start = t.state.step
        t.run()
        out = {"index": index, "chief": t.dist.chief, "replicas": t.dist.replicas, "start_step": start, "step": t.state.step,
               "losses": [loss for _, loss in t.history], "weights_sha256": weights_digest(t.model),
               "wrote": t.last_checkpoint}
    print("RESULT " + json.dumps(out), flush=True)
    return 0


run_cli(main)
