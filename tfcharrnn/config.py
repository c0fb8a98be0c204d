"""The model's hyperparameters: one dataclass, stored in every checkpoint.

    from tfcharrnn.config import ModelConfig
    config = ModelConfig(vocab_size=65, model="lstm", hidden_size=256, num_layers=2)
    ModelConfig.from_dict(config.to_dict()) == config
    ModelConfig(vocab_size=65, **train_config.model_fields())   # from the training flags
    model = CharRNN(config)              # tfcharrnn.model
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from tfcharrnn.errors import UserError

MODEL_KINDS = ("lstm", "gru", "rnn")
# What a config written before a field meant by its absence, where that differs from the field's default now:
# before skip_connections the output layer read the top layer only. ModelConfig and TrainConfig.from_dict apply it.
BEFORE_THE_FIELD = {"skip_connections": False}


@dataclass(frozen=True)
class ModelFields:
    """The architecture's hyperparameters: train.py's model flags, and (with the vocabulary size)
    what every checkpoint stores. Defined once here; ModelConfig and TrainConfig both extend it."""

    model: str = "lstm"  # lstm | gru | rnn
    hidden_size: int = 256
    num_layers: int = 2
    embedding_size: int = 64  # torch-rnn's wordvec_size
    dropout: float = 0.0  # between layers and before the output layer, training only
    weight_drop: float = 0.0  # DropConnect on the recurrent kernels (AWD-LSTM), one mask per batch, training only
    # The output layer reads every layer's output, not only the top one's (Graves 2013's skip connections to the
    # output): the lower layers get the loss's gradient directly, and a 2-layer model learns more per step.
    skip_connections: bool = True
    # Multiplicative integration (MI-LSTM, Wu et al. 2016): an LSTM's gates read alpha * xW * hR + beta_h * hR + beta_x * xW
    # + b instead of xW + hR + b (three (4H,) vectors more per layer, no more matmuls), so the character read scales
    # how the state enters each gate. It starts as the plain LSTM (alpha 0, the betas 1). LSTM only.
    multiplicative_integration: bool = False

    def check_model_fields(self) -> None:
        """UserError naming the flag when a model field is out of range."""
        if self.model is not None and self.model not in MODEL_KINDS:  # None: not given (tfcharrnn.training.recipe fills it in)
            raise UserError(f"--model {self.model!r} is not known; use one of {', '.join(MODEL_KINDS)}")
        if self.multiplicative_integration and self.model not in (None, "lstm"):
            raise UserError(f"--multiplicative_integration is an LSTM's, not --model {self.model}'s; "
                            "use --model lstm or --multiplicative_integration false")
        for name in ("hidden_size", "num_layers", "embedding_size"):
            if getattr(self, name) is not None:  # None: the training recipe chooses (tfcharrnn.training.recipe)
                _check_positive_int(name, getattr(self, name))
        for name in ("dropout", "weight_drop"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value < 1.0:
                raise UserError(f"--{name} must be in [0, 1), got {value}")

    def model_fields(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(ModelFields)}


def _check_positive_int(name, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise UserError(f"--{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class ModelConfig(ModelFields):
    vocab_size: int = dataclasses.field(kw_only=True)

    def __post_init__(self):
        _check_positive_int("vocab_size", self.vocab_size)
        unset = [name for name in ("model", "hidden_size", "num_layers", "embedding_size") if getattr(self, name) is None]
        if unset:
            raise UserError(f"a model config needs its shape, {', '.join(unset)} unset: a corrupted checkpoint, or a TrainConfig "
                            "not resolved (tfcharrnn.training.recipe.resolve)")
        self.check_model_fields()

    @property
    def states_per_layer(self) -> int:
        return 2 if self.model == "lstm" else 1  # LSTM carries (h, c); GRU and RNN carry h

    @property
    def num_states(self) -> int:
        """Rows of the packed state tensor (B, num_states, hidden_size)."""
        return self.num_layers * self.states_per_layer

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise UserError(f"checkpoint config has unknown fields {sorted(unknown)}; it was written by a newer tfcharrnn, upgrade")
        d = {**BEFORE_THE_FIELD, **d}
        try:
            return cls(**d)
        except TypeError as e:
            raise UserError(f"checkpoint config is incomplete ({e}); the checkpoint is corrupted") from None
