"""The optimizer (--optimizer): Muon for the recurrent layers' weight matrices and Adam for the rest
(muon), or Adam throughout (adam); both keep the weights' moving average (training.averaging).

    from tfcharrnn.training.optimizer import build_optimizer, describe
    optimizer = build_optimizer(cfg, model, orthogonalise_dtype="bfloat16")
    print(describe(cfg, "bfloat16"))

Muon (Keras' keras.optimizers.Muon, after Jordan et al. 2024 and Moonlight, Liu et al. 2025) steps
each weight matrix along its momentum made orthogonal (every singular value ~1, by a few
Newton-Schulz iterations), scaled so the update's size matches Adam's: a step moves every direction
of the matrix, not mostly the few with the largest gradients. The embedding (rows looked up, not
multiplied), the output layer and the biases stay with Adam, as Muon's authors advise.
"""

from __future__ import annotations

import keras
from keras import ops

from tfcharrnn.training.averaging import WarmAverage
from tfcharrnn.training.config import MUON_UPDATE_RMS


class AveragingAdam(WarmAverage, keras.optimizers.Adam):
    """Keras' Adam with the warmed-up moving average of the weights."""


class AveragingMuon(WarmAverage, keras.optimizers.Muon):
    """Keras' Muon with the warmed-up moving average, its Newton-Schulz iterations in
    ``orthogonalise_dtype``: bfloat16 where the CPU multiplies it natively (either way the
    iterations leave every singular value between ~0.6 and ~1.3, and bfloat16 halves their cost,
    about a quarter of a 2x256 step in float32 on 2 cores), float32 elsewhere."""

    def __init__(self, *args, orthogonalise_dtype: str = "float32", **kwargs):
        super().__init__(*args, **kwargs)
        self.orthogonalise_dtype = orthogonalise_dtype

    def _should_use_adamw(self, variable):
        # a GRU's bias is 2-D too (its input and recurrent halves: Keras' reset_after), and is still a bias
        return super()._should_use_adamw(variable) or "bias" in variable.name

    def zeropower_via_newtonschulz5(self, x, steps: int):
        if self.orthogonalise_dtype == "float32":
            return super().zeropower_via_newtonschulz5(x, steps)
        low = super().zeropower_via_newtonschulz5(ops.cast(x, self.orthogonalise_dtype), steps)
        return ops.cast(low, x.dtype)

    def get_config(self):
        return {**super().get_config(), "orthogonalise_dtype": self.orthogonalise_dtype}


def build_optimizer(cfg, model, orthogonalise_dtype: str = "float32"):
    """The optimizer ``cfg`` asks for (cfg.optimizer, whose defaults the trainer has filled in), for
    ``model``: decoupled weight decay on the weight matrices and the embedding, not the vectors."""
    common = dict(learning_rate=cfg.learning_rate, use_ema=bool(cfg.ema_momentum), ema_momentum=cfg.ema_momentum or 0.99)
    decay = cfg.weight_decay or None
    if cfg.optimizer == "muon":
        optimizer = AveragingMuon(adam_beta_2=cfg.adam_beta2, weight_decay=decay, adam_weight_decay=decay,
                                  exclude_embeddings=True, exclude_layers=[model.head.name], rms_rate=MUON_UPDATE_RMS,
                                  orthogonalise_dtype=orthogonalise_dtype, **common)
    else:
        optimizer = AveragingAdam(beta_2=cfg.adam_beta2, weight_decay=decay, **common)
    if decay:  # not the biases, nor multiplicative integration's gains (model.MILSTMCell), which are biases' kin
        optimizer.exclude_from_weight_decay(var_names=["bias", "integration"])
    return optimizer


def compiles_well(optimizer) -> bool:
    """Whether the optimizer's update runs faster as its own XLA computation (training.steps'
    compile_update): Adam's (and the moving average's) elementwise passes over each weight fuse
    into one (~4% more steps at 2x256 and 5% at 2x384 on 2 cores: docs/performance.md); Muon's
    Newton-Schulz matmuls in bfloat16 run ~3x slower under XLA's CPU dot than under TensorFlow's
    oneDNN one, and compiling the rest of its update gained nothing, so Muon's stays as it is."""
    return not isinstance(optimizer, keras.optimizers.Muon)


def orthogonalised(optimizer, variables) -> list:
    """The variables Muon steps (the rest: Adam), in order; none for Adam."""
    if not isinstance(optimizer, keras.optimizers.Muon):
        return []
    return [v for v in variables if not optimizer._should_use_adamw(v)]


def describe(cfg, orthogonalise_dtype: str) -> str:
    """The optimizer in words, for the run's start-up lines."""
    if cfg.optimizer != "muon":
        return f"optimizer: Adam (beta2 {cfg.adam_beta2:g}) on every weight; --optimizer muon: Muon on the recurrent layers' matrices"
    why = "this CPU multiplies it natively" if orthogonalise_dtype == "bfloat16" else "float32: no native bfloat16 here"
    return (f"optimizer: Muon on the recurrent layers' weight matrices (orthogonalised momentum, Newton-Schulz in "
            f"{orthogonalise_dtype}: {why}), Adam (beta2 {cfg.adam_beta2:g}) on the embedding, the output layer and the "
            f"biases; --optimizer adam: Adam throughout")
