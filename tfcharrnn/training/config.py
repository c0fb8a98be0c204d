"""TrainConfig: every training flag as one frozen dataclass, and the learning-rate schedule.

    from tfcharrnn.training import TrainConfig, learning_rate
    cfg = TrainConfig(train_data="input.txt", hidden_size=512, time_budget=15, max_epochs=0)
    cfg.validate()                               # UserError naming the flag and the fix
    model_config = ModelConfig(vocab_size=65, **cfg.model_fields())
    lr = learning_rate(cfg, step=100, epoch=0.3, elapsed_s=42.0)

The model's fields (model, hidden_size, ...) come from tfcharrnn.config.ModelFields; the flags
of scripts/train.py are these fields (tfcharrnn.cli builds its parser from them).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from tfcharrnn.config import BEFORE_THE_FIELD, ModelConfig, ModelFields
from tfcharrnn.errors import UserError
from tfcharrnn.recurrence import MATMUL_DTYPES
from tfcharrnn.training.distribute import STRATEGIES

OPTIMIZERS = ("adam", "muon")

LR_SCHEDULES = ("wsd", "cosine", "exp", "constant")
NEW_CHARS = ("extend", "error", "skip")
# 0.99 (nanoGPT's) learns faster than Keras' 0.999 in these short runs (docs/performance.md, quality)
DEFAULT_ADAM_BETA2 = 0.99
# warm-up-stable-decay: the peak rate held, then a straight fall over the run's last lr_decay_frac. In equal-step
# runs of the 3-minute recipe it ended 0.012-0.017 nats/char below cosine (2 seeds; docs/performance.md, quality)
DEFAULT_LR_SCHEDULE = "wsd"
# the Muon matrices' update RMS per unit of learning rate (Moonlight's rms_rate; Adam's updates are ~0.2): in 3-minute
# runs on Tiny Shakespeare 0.3 scored best of 0.2-0.6 (docs/performance.md, quality)
MUON_UPDATE_RMS = 0.3
DEFAULT_TIME_BUDGET = 12.0  # minutes, when no stop flag is given: well inside 15 minutes with start-up on 2 cores


@dataclass(frozen=True)
class TrainConfig(ModelFields):
    # the model (ModelFields); None = not given: chosen by the recipe (tfcharrnn.training.recipe: the width from the
    # budget, the embedding from the vocabulary, the regularisers from the budget and the corpus, lstm), or a fine-tuned model's own
    model: str | None = None
    hidden_size: int | None = None
    num_layers: int | None = None
    embedding_size: int | None = None
    dropout: float | None = None
    weight_drop: float | None = None
    skip_connections: bool | None = None
    multiplicative_integration: bool | None = None
    # data
    train_data: str | None = None  # file, directory or glob; None = bundled Tiny Shakespeare
    encoding: str = "utf-8"
    byte_mode: bool = False
    val_frac: float = 0.1
    test_frac: float = 0.0
    layout: str = "stream"  # stream (carried state, truncated BPTT) | windows
    seq_length: int = 100
    stride: int = 0  # windows layout: 0 = seq_length
    batch_size: int = 32
    # optimisation
    # the peak rate (Muon's and Adam's); None: the recipe's for the optimizer (training.recipe.LEARNING_RATES), or what a
    # resumed checkpoint used
    learning_rate: float | None = None
    # wsd | cosine | exp | constant; None: DEFAULT_LR_SCHEDULE, or what a resumed checkpoint used
    lr_schedule: str | None = None
    lr_decay: float = 0.97  # exp: multiply per epoch after lr_decay_after epochs
    lr_decay_after: float = 10.0
    min_lr_frac: float = 0.05  # wsd and cosine: the final rate, as a fraction of learning_rate
    lr_decay_frac: float = 0.3  # wsd: the last fraction of the run, over which the rate falls from its peak to the floor
    warmup_steps: int = 0
    grad_clip: float = 5.0
    # muon (Muon on the recurrent layers' weight matrices, Adam on the rest) | adam; None: the recipe's (by the passes over
    # the text: training.recipe.BY_PASSES), or what a resumed checkpoint used
    optimizer: str | None = None
    weight_decay: float | None = None  # decoupled (AdamW), on weight matrices and embeddings, not biases; None = the recipe's
    adam_beta2: float | None = None  # Adam's second-moment decay; None: DEFAULT_ADAM_BETA2, or what a resumed checkpoint used
    # momentum of the weights' moving average (Keras' optimizer EMA) that validation, samples and checkpoints
    # use, training going on with the raw weights; 0 = the raw weights; None: the recipe's for the optimizer
    # (training.recipe.AVERAGE_MOMENTA), or a resumed checkpoint's
    ema_momentum: float | None = None
    # the probability training leaves, spread evenly, for the vocabulary's characters that the training text never
    # shows (those only in the validation or test split), instead of driving theirs to zero; None = Good-Turing's
    # estimate (the share of the training text's characters whose kind occurs there once); 0 = none
    unseen_share: float | None = None
    train_path: str = "auto"  # how a step runs (tfcharrnn.training.train_path): auto = the fastest here, timed once and cached
    matmul_dtype: str = "float32"  # the fused loops' large matmuls: float32 (exact) | bfloat16 (opt-in, faster)
    # stopping
    max_epochs: float | None = None  # None or 0: no limit
    max_steps: int = 0  # 0 = no limit
    time_budget: float | None = None  # minutes; None: DEFAULT_TIME_BUDGET when no stop flag is given, else no limit
    patience: int = 3  # validations in a row without a new best before the run stops early; 0 = never
    # reporting and checkpoints
    iters_to_report: int = 50
    eval_val_every: int = 500
    sample_every: int = 1000
    sample_length: int = 200
    checkpoint_dir: str = "cv"
    keep_best: int = 3
    init_from: str | None = None
    resume: bool = False
    # fine-tuning (tfcharrnn.training.finetune): a new run from a trained model's weights
    finetune_from: str | None = None  # a checkpoint or run directory
    new_chars: str = "extend"  # characters of the new text the model never saw: extend | error | skip
    seed: int = 123
    deterministic: bool = False
    quiet: bool = False
    # distribution and monitoring
    strategy: str = "default"  # default | mirrored | multiworker | tpu
    tensorboard: bool = True  # TensorBoard summaries, metrics.jsonl and training_curve.png in checkpoint_dir

    def validate(self) -> None:
        from tfcharrnn.data import LAYOUTS

        for name in ("seq_length", "batch_size", "iters_to_report"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise UserError(f"--{name} must be a positive integer, got {value}")
        for name in ("eval_val_every", "sample_every", "max_steps", "keep_best", "stride", "warmup_steps", "sample_length", "patience"):
            if getattr(self, name) < 0:
                raise UserError(f"--{name} must be >= 0, got {getattr(self, name)}")
        self.check_model_fields()
        if self.learning_rate is not None and not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise UserError(f"--learning_rate must be > 0, got {self.learning_rate}")
        if self.weight_decay is not None and not (0 <= self.weight_decay < 1):
            raise UserError(f"--weight_decay must be in [0, 1) (it is multiplied by the learning rate), got {self.weight_decay}")
        if self.adam_beta2 is not None and not 0 < self.adam_beta2 < 1:
            raise UserError(f"--adam_beta2 must be in (0, 1), got {self.adam_beta2}")
        if self.unseen_share is not None and not 0 <= self.unseen_share < 1:
            raise UserError(f"--unseen_share must be in [0, 1) (0: none), got {self.unseen_share}")
        if self.ema_momentum is not None and not 0 <= self.ema_momentum < 1:
            raise UserError(f"--ema_momentum must be in [0, 1) (0: no averaging), got {self.ema_momentum}")
        if not self.grad_clip > 0:
            raise UserError(f"--grad_clip must be > 0, got {self.grad_clip}")
        if self.epoch_limit < 0 or self.minutes_limit < 0:
            raise UserError("--max_epochs and --time_budget must be >= 0")
        if self.epoch_limit == 0 and self.max_steps == 0 and self.minutes_limit == 0:
            raise UserError("no stop condition: set --max_epochs, --max_steps or --time_budget")
        for flag, value, known in (("layout", self.layout, LAYOUTS), ("strategy", self.strategy, STRATEGIES),
                                   ("lr_schedule", self.schedule, LR_SCHEDULES), ("matmul_dtype", self.matmul_dtype, MATMUL_DTYPES),
                                   ("new_chars", self.new_chars, NEW_CHARS), ("optimizer", self.optimizer, OPTIMIZERS)):
            if value is not None and value not in known:  # (only the optimizer may be None: the recipe's)
                raise UserError(f"--{flag} {value!r} is not known; use one of {', '.join(known)}")
        from tfcharrnn.training.train_path import NAMES, for_flags, is_known

        if not is_known(self.train_path):
            raise UserError(f"--train_path {self.train_path!r} is not known; use auto or one of {', '.join(NAMES)}")
        if self.train_path != "auto":
            for_flags(self.train_path, self.matmul_dtype)  # a path without a bfloat16 form: UserError
        if self.finetune_from and (self.resume or self.init_from):
            raise UserError(f"--finetune_from starts a new run from a model's weights, --{'resume' if self.resume else 'init_from'} continues "
                            "a run; give one (a fine-tuning run resumes with --resume in its own --checkpoint_dir)")
        if not 0 < self.lr_decay <= 1:
            raise UserError(f"--lr_decay must be in (0, 1], got {self.lr_decay}")
        if not 0 <= self.min_lr_frac <= 1:
            raise UserError(f"--min_lr_frac must be in [0, 1], got {self.min_lr_frac}")
        if not 0 < self.lr_decay_frac <= 1:
            raise UserError(f"--lr_decay_frac must be in (0, 1] (the share of the run the rate falls over), got {self.lr_decay_frac}")

    @property
    def schedule(self) -> str:
        """The learning-rate schedule: --lr_schedule, or DEFAULT_LR_SCHEDULE when not decided yet
        (the trainer decides it, a resumed run's own: training.state.optimiser_defaults)."""
        return self.lr_schedule or DEFAULT_LR_SCHEDULE

    @property
    def epoch_limit(self) -> float:
        """The epochs to stop after (0: no limit)."""
        return self.max_epochs or 0.0

    @property
    def minutes_limit(self) -> float:
        """The minutes to stop after (0: no limit): --time_budget when given; DEFAULT_TIME_BUDGET
        when no stop flag is given at all; else none (a stop flag replaces the default budget)."""
        if self.time_budget is not None:
            return self.time_budget
        return DEFAULT_TIME_BUDGET if self.max_epochs is None and not self.max_steps else 0.0

    def model_config(self, vocab_size: int) -> ModelConfig:
        """The model these flags describe, for a corpus with ``vocab_size`` characters."""
        return ModelConfig(vocab_size=vocab_size, **self.model_fields())

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """From a checkpoint's train_config (meta.json), older spellings included."""
        return cls(**{**BEFORE_THE_FIELD, **cls.current_names(d)})

    @staticmethod
    def current_names(d: dict) -> dict:
        """``d`` (all or some fields) with the older fields that chose the training path (kernel,
        fused false, jit) as the one field train_path."""
        d = dict(d)
        kernel, fused, jit = d.pop("kernel", "auto"), d.pop("fused", True), d.pop("jit", False)
        if "train_path" not in d and (kernel != "auto" or not fused or jit):
            d["train_path"] = kernel if kernel != "auto" else "keras" if not fused else "xla"
        return d


def learning_rate(cfg: TrainConfig, step: int, epoch: float, elapsed_s: float) -> float:
    """The schedule, a pure function of where training is (so a resumed run continues it exactly)."""
    lr, schedule = cfg.learning_rate, cfg.schedule
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return lr * (step + 1) / cfg.warmup_steps
    if schedule == "exp":
        return lr * cfg.lr_decay ** max(0.0, math.floor(epoch) - cfg.lr_decay_after + 1) if epoch >= cfg.lr_decay_after else lr
    progress = run_progress(cfg, step, epoch, elapsed_s)
    if schedule == "cosine":
        return lr * (cfg.min_lr_frac + (1 - cfg.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * progress)))
    if schedule == "wsd":
        falling = max(0.0, progress - (1 - cfg.lr_decay_frac)) / cfg.lr_decay_frac  # 0 until the decay starts, 1 at the end
        return lr * (1 - (1 - cfg.min_lr_frac) * falling)
    return lr


def describe_schedule(cfg: TrainConfig) -> str:
    """The schedule in words, for the run's start-up lines."""
    lr, floor = f"{cfg.learning_rate:g}", f"{cfg.learning_rate * cfg.min_lr_frac:g}"
    words = {"wsd": f"{lr} held, then down to {floor} over the last {cfg.lr_decay_frac:.0%} of the run (wsd; early stopping "
                    "waits for the fall)",
             "cosine": f"{lr} down to {floor} along a cosine over the run",
             "exp": f"{lr}, times {cfg.lr_decay:g} each epoch from epoch {cfg.lr_decay_after:g}",
             "constant": f"{lr} throughout"}[cfg.schedule]
    return words + (f", after {cfg.warmup_steps} warm-up steps" if cfg.warmup_steps else "")


def run_progress(cfg: TrainConfig, step: int, epoch: float, elapsed_s: float) -> float:
    """How far through its limits the run is, 0 to 1: the furthest of steps, epochs and minutes
    (0 throughout for a run with no limit)."""
    progress = 0.0
    if cfg.max_steps:
        progress = max(progress, step / cfg.max_steps)
    if cfg.epoch_limit:
        progress = max(progress, epoch / cfg.epoch_limit)
    if cfg.minutes_limit:
        progress = max(progress, elapsed_s / (cfg.minutes_limit * 60.0))
    return min(1.0, progress)


def at_peak_rate(cfg: TrainConfig, step: int, epoch: float, elapsed_s: float) -> bool:
    """True while a wsd schedule still holds its peak rate (early stopping waits for the decay: at
    the peak rate validation can stall for a while and then fall fast once the rate does)."""
    return cfg.schedule == "wsd" and run_progress(cfg, step, epoch, elapsed_s) < 1 - cfg.lr_decay_frac
