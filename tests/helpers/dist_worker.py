"""A training process for tests/test_distributed.py (run as a subprocess).

    python dist_worker.py mirrored CORPUS RUN_DIR LAYOUT GRAD_CLIP [regularised|muon]   # default vs mirrored on 2 logical CPUs
    python dist_worker.py worker INDEX PORTS CORPUS RUN_DIR STEPS [resume]   # one MultiWorkerMirrored worker
Prints one JSON line (for a worker: its per-step losses and a digest of its final weights).
`mirrored` trains with plain SGD in place of Adam and writes RUN_DIR/STRATEGY/steps.npz: every
weight before the first step and after each step, stacked (steps + 1, ...).
A RUN_DIR containing "{index}" gives each worker its own directory (to see which ones write).
"""

import json
import os
import re
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

import keras  # noqa: E402
import numpy as np  # noqa: E402

from conftest import tiny_config  # noqa: E402
from digest import weights_digest  # noqa: E402
from tfcharrnn.checkpoint import model_arrays  # noqa: E402
from tfcharrnn.errors import run_cli  # noqa: E402
from tfcharrnn.training import Trainer  # noqa: E402

MIRRORED_STEPS = 6
PROGRESS_LINE = re.compile(r"^\s*\d+ \| epoch")  # the trainer's line after each step (iters_to_report 1)


class PlainSGD(keras.optimizers.SGD):
    """Built where the trainer builds Adam. Each SGD step moves the weights by the learning rate times
    the clipped gradient, so a gradient scaled by a constant shows; Adam's update is blind to that."""

    def __init__(self, learning_rate, weight_decay=None, **_):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay)


def weights_after_each_step(cfg):
    """(trainer, {weight path: (steps + 1, ...) array}): the weights before the first step and after each."""
    snapshots = []

    def log(line="", *_, **__):
        if PROGRESS_LINE.match(str(line)):
            snapshots.append(model_arrays(trainer.model))

    trainer = Trainer(cfg, log=log)
    snapshots.append(model_arrays(trainer.model))
    trainer.run()
    return trainer, {name: np.stack([s[name] for s in snapshots]) for name in snapshots[0]}


def main(argv):
    out = {}
    if mode == "mirrored":
        corpus, run_dir, layout, grad_clip = sys.argv[2:6]
        # weight drop's mask is one per global batch (each replica draws the same one); weight decay is per variable
        extra = dict(dropout=0.0, weight_drop=0.3, weight_decay=0.1) if sys.argv[6:] == ["regularised"] else \
            dict(dropout=0.0, weight_drop=0.0, weight_decay=0.0)  # set, not left to the recipe: decay would move the weights too
        extra["learning_rate"] = 0.5
        if sys.argv[6:] == ["muon"]:  # Muon itself on the recurrent matrices, Adam on the rest: the replicas' steps must agree too
            extra.update(optimizer="muon", learning_rate=0.01)
        else:
            keras.optimizers.Adam = PlainSGD
        for strategy in ("default", "mirrored"):
            cfg = tiny_config(corpus, os.path.join(run_dir, strategy), strategy=strategy, max_steps=MIRRORED_STEPS, layout=layout,
                              stride=16, lr_schedule="constant", grad_clip=float(grad_clip), iters_to_report=1,
                              quiet=False, sample_length=0, **extra)
            t, weights = weights_after_each_step(cfg)
            np.savez(os.path.join(run_dir, strategy, "steps.npz"), **weights)
            out[strategy] = {"replicas": t.dist.replicas, "steps": len(next(iter(weights.values()))) - 1}
    else:
        corpus, run_dir, steps = sys.argv[4], sys.argv[5].replace("{index}", str(index)), int(sys.argv[6])
        cfg = tiny_config(corpus, run_dir, strategy="multiworker", max_steps=steps, resume=len(sys.argv) > 7,
                          iters_to_report=5, eval_val_every=10, quiet=False)
        t = Trainer(cfg)
        start = t.state.step
        t.run()
        with t.averaged_weights():  # what a checkpoint holds
            averaged = weights_digest(t.model)
        out = {"index": index, "chief": t.dist.chief, "replicas": t.dist.replicas, "start_step": start, "step": t.state.step,
               "losses": [loss for _, loss in t.history], "weights_sha256": weights_digest(t.model),
               "averaged_weights_sha256": averaged, "wrote": t.last_checkpoint}
    print("RESULT " + json.dumps(out), flush=True)
    return 0


run_cli(main)
