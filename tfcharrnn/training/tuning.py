"""The trainer's path: forced by --kernel (or the older --fused / --jit flags), else autotuned.

    from tfcharrnn.training.tuning import choose_path
    choice = choose_path(trainer)     # tfcharrnn.autotune.Choice: .path, .describe()

Candidates are the training paths that can run here (tfcharrnn.paths); each is timed on the
trainer's own model shape and first batch, in a scratch model with its own optimizer, so the run
itself is untouched (the trainer seeds its random streams after this). See tfcharrnn.autotune.
"""

from __future__ import annotations

import time

from tfcharrnn import autotune, paths
from tfcharrnn.errors import UserError
from tfcharrnn.recurrence import gpu_visible

FLOAT32_CANDIDATES = ("step-groups", "layer-groups", "fused", "xla", "keras")  # ties go to the earlier
BFLOAT16_CANDIDATES = ("layer-groups-bf16", "fused-bf16", "xla-bf16")


def forced_path(cfg, single_device: bool):
    """The path the flags force, or None when --kernel auto leaves the choice to timing."""
    legacy = [flag for flag, on in (("--fused false", not cfg.fused), ("--jit", cfg.jit)) if on]
    if cfg.kernel != "auto":
        if cfg.matmul_dtype == "bfloat16" and not cfg.kernel.endswith("-bf16"):
            legacy.append("--matmul_dtype bfloat16")
        if legacy:
            raise UserError(f"--kernel {cfg.kernel} and {' '.join(legacy)} both choose the training path; pass only --kernel")
        return paths.named(cfg.kernel)
    if legacy or gpu_visible() or not single_device:  # a GPU runs cuDNN; replicas keep the row groups inside each layer
        return paths.from_flags(cfg.fused, cfg.jit, cfg.matmul_dtype, single_device)
    return None


def candidates(cfg) -> list:
    names = BFLOAT16_CANDIDATES if cfg.matmul_dtype == "bfloat16" else FLOAT32_CANDIDATES
    return autotune.distinct([paths.named(n) for n in names])


class StepTimer:
    """measure(path) -> seconds per training step of a scratch model on ``path``."""

    MIN_SECONDS, MIN_STEPS, MAX_STEPS = 0.15, 2, 50  # per measurement, after one untimed step (tracing, XLA compiles)

    def __init__(self, trainer):
        self.t = trainer
        self.batch = None  # the first training batch, pulled when the first path is timed (a cached choice times none)
        self.prepared = {}

    def _prepare(self, path):
        import keras
        import tensorflow as tf

        from tfcharrnn.model import CharRNN
        from tfcharrnn.training.steps import Steps

        t = self.t
        if self.batch is None:
            self.batch = next(iter(t.train_batches(0)))  # (x, y), (B, T) each
        model = CharRNN(t.model_config, recurrence=path.recurrence)
        optimizer = keras.optimizers.Adam(learning_rate=t.cfg.learning_rate)
        optimizer.build(model.trainable_variables)
        steps = Steps(model, optimizer, t.dist, path, t.cfg)
        state, lr = model.initial_state(t.cfg.batch_size), tf.constant(t.cfg.learning_rate, tf.float32)
        run = lambda: float(steps.train(*self.batch, state, lr)[0])  # noqa: E731 - reading the loss waits for the step
        run()
        return run

    def __call__(self, path) -> float:
        if path.name not in self.prepared:
            self.prepared[path.name] = self._prepare(path)
        run, done = self.prepared[path.name], 0
        t0 = time.perf_counter()
        while done < self.MIN_STEPS or (time.perf_counter() - t0 < self.MIN_SECONDS and done < self.MAX_STEPS):
            run()
            done += 1
        return (time.perf_counter() - t0) / done


def choose_path(trainer) -> autotune.Choice:
    cfg, dist = trainer.cfg, trainer.dist
    single_device = dist.single_replica and cfg.strategy == "default"
    forced = forced_path(cfg, single_device)
    if forced is not None:
        return autotune.Choice(forced, cached=False)
    options = candidates(cfg)
    key = autotune.Cache.key(autotune.machine_key(), autotune.shape_key(cfg, trainer.model_config))
    return autotune.choose(options, key, StepTimer(trainer))  # the scratch models go with the timer
