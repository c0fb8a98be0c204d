"""Where a run is, and what resuming it restores.

    from tfcharrnn.training.state import TrainState, RunArrays, checkpoint_to_resume
    state = TrainState()                          # step 0, epoch 0, ...
    state.to_dict()                               # what meta.json stores as train_state
    restored = checkpoint_to_resume(cfg, log)     # a Checkpoint, or None for a new run

A checkpoint holds four kinds of state: the model's weights, the optimizer's variables (Muon's and Adam's
moments and counter), the position in the data (TrainState: epoch, batch, step, ...) and the
run's arrays that are neither (RunArrays: the recurrent state carried between stream batches and
the random streams of dropout and weight drop). With all four back, N steps straight and N/2 +
N/2 steps give the same weights.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

import numpy as np

from tfcharrnn import checkpoint as ckpt_lib
from tfcharrnn.errors import UserError

# The flags that lay out the training text: a resumed run whose flags differ restarts the epoch.
DATA_LAYOUT_FLAGS = ("layout", "seq_length", "batch_size", "stride", "val_frac", "test_frac", "seed", "byte_mode", "encoding")


@dataclass
class TrainState:
    step: int = 0
    epoch_index: int = 0  # the epoch being read (its layout is a function of seed and index)
    batch_in_epoch: int = 0  # batches of it already trained on
    epoch: float = 0.0  # epoch_index + the fraction read
    chars_seen: int = 0
    elapsed_s: float = 0.0  # training time, summed over resumed runs
    best_val_loss: float | None = None
    best_step: int = 0  # the step of best_val_loss
    validations_since_best: int = 0  # validations in a row without a new best (early stopping)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainState":
        """From a checkpoint's train_state (which also records val_loss and the flags: ignored here)."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def next_epoch(self) -> None:
        self.epoch_index += 1
        self.batch_in_epoch = 0
        self.epoch = float(self.epoch_index)


@dataclass
class RunArrays:
    carry: np.ndarray | None = None  # (B, S, H) state carried into the next stream batch
    rng: list = field(default_factory=list)  # states of the model's seed generators, in their order

    def to_arrays(self) -> dict:
        arrays = {f"rng_{i:04d}": np.asarray(s) for i, s in enumerate(self.rng)}
        if self.carry is not None:
            arrays["carry_state"] = np.asarray(self.carry)
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict) -> "RunArrays":
        return cls(carry=arrays.get("carry_state"), rng=[arrays[k] for k in sorted(arrays) if k.startswith("rng_")])


def checkpoint_to_resume(cfg, log):
    """The checkpoint --resume / --init_from name, loaded; None for a new run. When the data
    layout flags differ from the checkpoint's, the data position restarts at the epoch start."""
    if cfg.init_from:
        path = cfg.init_from
    elif cfg.resume:
        path = ckpt_lib.read_pointer(cfg.checkpoint_dir, "latest") if os.path.isdir(cfg.checkpoint_dir) else None
        if path is None:
            raise UserError(f"--resume: no latest.json in {cfg.checkpoint_dir!r}; train first or pass --init_from CHECKPOINT")
    else:
        return None
    restored = ckpt_lib.load_checkpoint(path)
    saved = restored.train_state.get("train_config", {})
    for key in DATA_LAYOUT_FLAGS:
        if key in saved and saved[key] != getattr(cfg, key):
            log(f"note: --{key} {getattr(cfg, key)!r} differs from the checkpoint's {saved[key]!r}; the data position restarts at the epoch start")
            restored.train_state["batch_in_epoch"] = 0
            restored.run_arrays.pop("carry_state", None)
    return restored


def optimiser_defaults(cfg, restored):
    """``cfg`` with Adam's beta2 and the schedule decided when not given, and for a resumed run the
    weights' averaging and the peak rate: a new run takes DEFAULT_ADAM_BETA2 and DEFAULT_LR_SCHEDULE
    (its rate and average are the recipe's, by its optimizer); a resumed one keeps its checkpoint's
    (0.999, Keras' default, no averaging, cosine and no unseen share for checkpoints older than the
    settings), and its optimizer (Adam for checkpoints older than the flag), so a resumed run
    continues the optimisation it started. A new run's optimizer is left to the recipe
    (training.recipe), which runs after this."""
    from tfcharrnn.training.config import DEFAULT_ADAM_BETA2, DEFAULT_LR_SCHEDULE

    saved = restored.train_state.get("train_config", {}) if restored is not None else None
    changes = {}
    if cfg.adam_beta2 is None:
        changes["adam_beta2"] = DEFAULT_ADAM_BETA2 if saved is None else saved.get("adam_beta2") or 0.999
    if cfg.ema_momentum is None and saved is not None:
        changes["ema_momentum"] = saved.get("ema_momentum") or 0.0
    if cfg.lr_schedule is None:
        changes["lr_schedule"] = DEFAULT_LR_SCHEDULE if saved is None else saved.get("lr_schedule") or "cosine"
    if saved is not None:
        trained_with = saved.get("optimizer") or "adam"
        if cfg.optimizer is None:
            changes["optimizer"] = trained_with
        elif cfg.optimizer != trained_with:
            raise UserError(f"--optimizer {cfg.optimizer}: the checkpoint trained with {trained_with}, whose state "
                            f"does not carry over; resume without --optimizer, or start a new run (--finetune_from) to change it")
    if cfg.learning_rate is None and saved is not None:
        changes["learning_rate"] = saved.get("learning_rate") or 5e-3  # every checkpoint before the recipe chose it: 0.005
    if cfg.unseen_share is None and saved is not None and "unseen_share" not in saved:
        changes["unseen_share"] = 0.0  # written before the share existed: it trained on plain cross-entropy
    return dataclasses.replace(cfg, **changes)


def restore_rng(model, rng: list) -> None:
    """Dropout / weight-drop streams continue where the checkpoint left them (checkpoints without
    them, or with streams of another shape, start afresh)."""
    generators = model.seed_generators()
    if rng and len(rng) == len(generators) and all(a.shape == tuple(g.state.shape) for a, g in zip(rng, generators)):
        for a, g in zip(rng, generators):
            g.state.assign(a.astype(g.state.dtype))
