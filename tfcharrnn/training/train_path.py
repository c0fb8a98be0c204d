"""Training paths: how the trainer runs a step around the model, by name, and which one a run takes:
the one --train_path names, else the fastest here, timed once per machine and shape and cached.

    from tfcharrnn.training import train_path
    path = train_path.named("step-groups")   # TrainPath("step-groups", Recurrence.fused(row_groups=2), step_groups=2)
    path.recurrence                          # what the model runs (tfcharrnn.recurrence)
    path.groups_for(batch=32)                # 2: the trainer splits this batch itself

    choice = train_path.untimed(cfg, model_config, dist)       # forced by the flags, or cached: None = time them
    choice = choice or train_path.timed(cfg, model_config, dist, first_batch)   # (x, y), (B, T) each
    choice.path, choice.describe()

| name | what a training step runs |
| --- | --- |
| `keras` | the Keras layers in a tf.function step (cuDNN on a GPU) |
| `whole-batch` | the fused CPU loops (tfcharrnn.fused), one loop over the whole batch (older name: `fused`) |
| `layer-groups` | the fused loops, the batch's rows as two groups inside each layer, loops side by side |
| `step-groups` | the trainer splits the batch in two; each group's whole step (every layer, loss, backward) is one XLA computation, side by side |
| `xla` | the whole step one XLA computation (fused loops, row groups inside each layer) |

A `-bf16` suffix (`whole-batch-bf16`, `layer-groups-bf16`, `xla-bf16`) gives the fused loops' large
matmuls bfloat16 operands: an opt-in mixed precision (results agree with float32 to about 3
digits); `--matmul_dtype bfloat16` picks among them, or turns a named path into its bfloat16 form.
Every float32 path computes the same function as the Keras cells (tests hold them to 1e-5), so
the choice changes speed, not what is learned. "Row groups" is the one idea behind `layer-groups`
and `step-groups`: independent rows of a batch, run side by side on the cores; the two differ in
where the batch is split. On a machine with one core the groups collapse to one.

Timing, as cuDNN's and XLA's autotuners do: each candidate trains a scratch model of the run's
shape on the run's first batch for a few steps, and the fastest is kept. The choice is cached per
machine (CPU model and flags, cores, TensorFlow version, whether oneDNN runs: tfcharrnn.machine,
tfcharrnn.onednn) and shape in CACHE_FILE under tfcharrnn.machine.cache_dir(), so later runs
start at once, and a choice timed with oneDNN on is not reused with it off (or the reverse);
delete the file to measure again. A GPU, or several replicas, take the default path untimed.
The candidates are timed in this process, so under the oneDNN setting the run itself uses.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

from tfcharrnn import machine, onednn
from tfcharrnn.errors import UserError
from tfcharrnn.recurrence import Recurrence, default_row_groups, gpu_visible

CACHE_FILE = "autotune.json"
BASE_NAMES = ("keras", "whole-batch", "layer-groups", "step-groups", "xla")
BF16_NAMES = ("whole-batch-bf16", "layer-groups-bf16", "xla-bf16")
NAMES = BASE_NAMES + BF16_NAMES
ALIASES = {"fused": "whole-batch", "fused-bf16": "whole-batch-bf16"}  # the names older commands use
FLOAT32_CANDIDATES = ("step-groups", "layer-groups", "whole-batch", "xla", "keras")  # ties go to the earlier
BFLOAT16_CANDIDATES = ("layer-groups-bf16", "whole-batch-bf16", "xla-bf16")


@dataclass(frozen=True)
class TrainPath:
    name: str
    recurrence: Recurrence  # how the model runs its layers (evaluation uses it too)
    step_groups: int = 1  # > 1: the trainer splits a batch into this many groups, each group's step one XLA computation
    jit: bool = False  # the whole step one XLA computation

    def groups_for(self, batch) -> int:
        """The step's row groups for a batch of ``batch`` rows (1: the step is not split)."""
        if self.step_groups <= 1 or not self.recurrence.runs_fused:  # a GPU runs the Keras layers whole
            return 1
        return dataclasses.replace(self.recurrence, row_groups=self.step_groups).groups_for(batch)

    @property
    def group_recurrence(self) -> Recurrence:
        """The recurrence inside one step group: the group is not split again."""
        return dataclasses.replace(self.recurrence, row_groups=1)


def _base(name: str) -> TrainPath:
    groups = default_row_groups()
    if name == "keras":
        return TrainPath(name, Recurrence())
    if name == "whole-batch":
        return TrainPath(name, Recurrence.fused(row_groups=1))
    if name == "layer-groups":
        return TrainPath(name, Recurrence.fused(groups))
    if name == "step-groups":
        return TrainPath(name, Recurrence.fused(groups), step_groups=groups)
    if name == "xla":
        return TrainPath(name, Recurrence.fused(groups), jit=True)
    raise KeyError(name)


def named(name: str) -> TrainPath:
    """The path called ``name`` (one of NAMES, or an older name of ALIASES); KeyError for another."""
    name = ALIASES.get(name, name)
    if name in BF16_NAMES:
        base = _base(name[: -len("-bf16")])
        return TrainPath(name, dataclasses.replace(base.recurrence, matmul_dtype="bfloat16"), base.step_groups, base.jit)
    return _base(name)


def is_known(name: str) -> bool:
    return name == "auto" or ALIASES.get(name, name) in NAMES


def for_flags(name: str, matmul_dtype: str = "float32") -> TrainPath:
    """The path --train_path NAME forces; with --matmul_dtype bfloat16 its bfloat16 form (keras has
    no fused matmuls to round, so it stays itself)."""
    path = named(name)
    if matmul_dtype != "bfloat16" or path.name in BF16_NAMES or path.name == "keras":
        return path
    if path.name + "-bf16" not in BF16_NAMES:
        raise UserError(f"--train_path {name} has no bfloat16 form; with --matmul_dtype bfloat16 use auto or one of "
                        f"{', '.join(n[: -len('-bf16')] for n in BF16_NAMES)}")
    return named(path.name + "-bf16")


def candidates(cfg) -> list:
    """The paths timing chooses among: the float32 ones, or the bfloat16 ones when asked for."""
    return distinct([named(n) for n in (BFLOAT16_CANDIDATES if cfg.matmul_dtype == "bfloat16" else FLOAT32_CANDIDATES)])


def distinct(paths: list) -> list:
    """Paths that run different code (on one core, the row groups collapse to one group)."""
    seen, out = set(), []
    for path in paths:
        what = (path.recurrence, path.step_groups, path.jit)
        if what not in seen:
            seen.add(what)
            out.append(path)
    return out


# ---------------------------------------------------------------------------------------------
# the choice


@dataclass
class Choice:
    path: TrainPath
    cached: bool  # read from the cache, not measured now
    seconds: dict = field(default_factory=dict)  # path name -> seconds per step (its fastest round), when known
    tuning_s: float = 0.0  # time the measurement took

    def describe(self) -> str:
        """The start-up line: the path, how it was chosen, and the oneDNN setting in force."""
        if len(self.seconds) <= 1 and not self.cached:
            return f"path {self.path.name}; {onednn.in_force()}"
        timing = ", ".join(f"{name} {1000 * s:.1f} ms" for name, s in sorted(self.seconds.items(), key=lambda kv: kv[1]))
        how = "autotuned earlier on this machine, cached" if self.cached else f"autotuned in {self.tuning_s:.1f}s"
        return f"path {self.path.name} ({how}: {timing} a step; --train_path NAME forces one); {onednn.in_force()}"


def forced(cfg, dist) -> TrainPath | None:
    """The path when there is nothing to time: the one --train_path names; on a GPU (cuDNN runs the
    layers whatever the path) or with several replicas (they keep the row groups inside each
    layer) the default; the only candidate. None when the candidates must be timed."""
    if cfg.train_path != "auto":
        return for_flags(cfg.train_path, cfg.matmul_dtype)
    single_device = dist.single_replica and dist.name == "default"
    if gpu_visible() or not single_device:
        return named("layer-groups-bf16" if cfg.matmul_dtype == "bfloat16" else "step-groups" if single_device else "layer-groups")
    options = candidates(cfg)
    return options[0] if len(options) == 1 else None


def untimed(cfg, model_config, dist, cache: Cache | None = None) -> Choice | None:
    """The path forced by the flags, or chosen earlier on this machine for this shape; None when
    the candidates must be timed (``timed``)."""
    path = forced(cfg, dist)
    if path is not None:
        return Choice(path, cached=False)
    return (cache or Cache()).lookup(cache_key(cfg, model_config), candidates(cfg), machine.busy_load())


def timed(cfg, model_config, dist, batch, cache: Cache | None = None) -> Choice:
    """The fastest candidate, timed on scratch models of the run's shape on ``batch`` (the run's
    first (x, y)), and cached. The scratch models draw their own random weights: seed the run's
    random streams after this."""
    measure = StepTimer(cfg, model_config, dist, batch)
    return fastest(candidates(cfg), measure, cache_key(cfg, model_config), cache or Cache(), machine.busy_load())


def fastest(paths: list, measure, key: str, cache: Cache, load: float | None, rounds: int = 3) -> Choice:
    """The fastest of ``paths`` by ``measure(path) -> seconds per step``, stored under ``key``.
    Rounds are interleaved, so that a busy neighbour slows every candidate alike; a candidate 1.5x
    slower than the best after the first round is not measured again; each keeps its fastest round.
    ``load`` (machine.busy_load) is stored with the choice: one measured on a busy machine is
    measured again once the machine is quiet."""
    t0 = time.perf_counter()
    samples = {p.name: [] for p in paths}
    for r in range(rounds):
        best = min((min(s) for s in samples.values() if s), default=None)
        for p in paths:
            if r == 0 or min(samples[p.name]) <= 1.5 * best:
                samples[p.name].append(measure(p))
    seconds = {name: min(s) for name, s in samples.items()}
    chosen = min(paths, key=lambda p: seconds[p.name])
    cache.put(key, {"path": chosen.name, "seconds": seconds, "measured_at": time.strftime("%Y-%m-%d %H:%M:%S"), "busy_load": load})
    return Choice(chosen, cached=False, seconds=seconds, tuning_s=time.perf_counter() - t0)


class StepTimer:
    """measure(path) -> seconds per training step of a scratch model on ``path``, on ``batch``."""

    MIN_SECONDS, MIN_STEPS, MAX_STEPS = 0.15, 2, 50  # per measurement, after one untimed step (tracing, XLA compiles)

    def __init__(self, cfg, model_config, dist, batch):
        self.cfg, self.model_config, self.dist, self.batch = cfg, model_config, dist, batch
        self.prepared = {}

    def _prepare(self, path):
        import keras
        import tensorflow as tf

        from tfcharrnn.model import CharRNN
        from tfcharrnn.training.steps import Steps

        cfg = self.cfg
        model = CharRNN(self.model_config, recurrence=path.recurrence)
        optimizer = keras.optimizers.Adam(learning_rate=cfg.learning_rate)
        optimizer.build(model.trainable_variables)
        steps = Steps(model, optimizer, self.dist, path, cfg, compile_update=True)  # as a run with Adam steps
        state, lr = model.initial_state(cfg.batch_size), tf.constant(cfg.learning_rate, tf.float32)
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


# ---------------------------------------------------------------------------------------------
# the cache


def machine_key() -> dict:
    """What the step's speed depends on in the machine: a choice made under one oneDNN setting is not reused under another."""
    import tensorflow as tf

    return {**machine.cpu_info(), "tensorflow": tf.__version__, "onednn": onednn.enabled()}


def shape_key(cfg, model_config) -> dict:
    """What the step's speed depends on besides the machine."""
    return {"model": model_config.model, "hidden_size": model_config.hidden_size, "num_layers": model_config.num_layers,
            "embedding_size": model_config.embedding_size, "vocab_size": model_config.vocab_size,
            "skip_connections": model_config.skip_connections, "batch_size": cfg.batch_size,
            "seq_length": cfg.seq_length, "dropout": model_config.dropout > 0, "weight_drop": model_config.weight_drop > 0,
            "matmul_dtype": cfg.matmul_dtype, **({"multiplicative_integration": True} if model_config.multiplicative_integration else {})}


def cache_key(cfg, model_config) -> str:
    return Cache.key(machine_key(), shape_key(cfg, model_config))


class Cache(machine.JsonCache):
    """CACHE_FILE: entry key (machine + shape) -> the chosen path's name and the timings."""

    def __init__(self, directory: str | None = None):
        super().__init__(CACHE_FILE, directory)

    @staticmethod
    def key(machine_desc: dict, shape: dict) -> str:
        return machine.JsonCache.key({"machine": machine_desc, "shape": shape})

    def lookup(self, key: str, paths: list, load: float | None) -> Choice | None:
        """The choice stored under ``key`` if it is one of ``paths``; None when there is none, or when
        it was measured on a busy machine and this one is quiet now (``load`` None)."""
        entry = self.get(key)
        by_name = {p.name: p for p in paths}
        if not isinstance(entry, dict) or ALIASES.get(entry.get("path"), entry.get("path")) not in by_name:
            return None
        if entry.get("busy_load") is not None and load is None:
            return None
        seconds = {ALIASES.get(name, name): s for name, s in entry.get("seconds", {}).items()}  # an entry stored under older names
        return Choice(by_name[ALIASES.get(entry["path"], entry["path"])], cached=True, seconds=seconds)
