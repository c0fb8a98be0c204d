"""The recurrence seam: how a CharRNN runs its recurrent layers over a sequence, as one value.

    from tfcharrnn.recurrence import Recurrence
    model = CharRNN(config)                                       # Recurrence(): the Keras layers (cuDNN on a GPU)
    model = CharRNN(config, recurrence=Recurrence.fused())        # tfcharrnn.fused on a CPU
    logits, state = model(ids, state, recurrence=Recurrence.fused(row_groups=1))   # one call, another recurrence

A recurrence is a frozen value handed to whoever builds the model (or passed to one call), never
a process-wide switch, so two models in one process can run different ones. The Keras layers are
the readable way; ``fused`` is the performance trick beside it and computes the same function
(tests compare the two to 1e-5 in float32). The fused loops step aside when a GPU is visible, so
that the Keras layers' cuDNN kernel runs there.

The model only ever asks a recurrence two things: what the first layer reads (``layer_input``)
and to run one layer (``run_layer``); it never sees the fused loops' own types. How the trainer
splits and compiles a step around the model is its training path (tfcharrnn.training.train_path).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

NAMES = ("keras", "fused")
MATMUL_DTYPES = ("float32", "bfloat16")


def gpu_visible() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU"))


def default_row_groups() -> int:
    """Two row groups on a machine with two or more cores (their loops run side by side), else one."""
    return 2 if (os.cpu_count() or 1) >= 2 else 1


@dataclass(frozen=True)
class Recurrence:
    name: str = "keras"  # keras: the Keras layers | fused: tfcharrnn.fused (CPU)
    row_groups: int = 1  # fused: a batch's rows as this many independent groups, run side by side
    matmul_dtype: str = "float32"  # fused: operands of the large matmuls outside the loops (bfloat16: opt-in)
    compile_loops: bool = True  # fused: the recurrent loops as XLA computations

    def __post_init__(self):
        if self.name not in NAMES:
            raise ValueError(f"recurrence {self.name!r}: use one of {', '.join(NAMES)}")
        if not isinstance(self.row_groups, int) or self.row_groups < 1:
            raise ValueError(f"row_groups must be a positive integer, got {self.row_groups!r}")
        if self.matmul_dtype not in MATMUL_DTYPES:
            raise ValueError(f"matmul dtype {self.matmul_dtype!r}: use one of {', '.join(MATMUL_DTYPES)}")

    @classmethod
    def fused(cls, row_groups: int | None = None, matmul_dtype: str = "float32", compile_loops: bool = True) -> "Recurrence":
        """The fused loops (tfcharrnn.fused); row_groups None = default_row_groups()."""
        return cls("fused", default_row_groups() if row_groups is None else row_groups, matmul_dtype, compile_loops)

    @property
    def runs_fused(self) -> bool:
        """Whether a call traced now runs the fused loops (not when a GPU is visible)."""
        return self.name == "fused" and not gpu_visible()

    def groups_for(self, batch) -> int:
        """The row groups for a batch of ``batch`` rows: row_groups when they divide it into groups
        of two or more rows, else 1."""
        groups = self.row_groups
        if groups <= 1 or batch is None or batch % groups or batch // groups < 2:
            return 1
        return groups

    def layer_input(self, embedding, ids):
        """What the first layer reads for ids (B, T): the embedded rows (B, T, E), or for the fused
        loops the ids with the embedding table, whose input projection is then a lookup in a (V, G)
        table each row group computes once. The table pays while the vocabulary has fewer characters
        than a group has (row, step) pairs; a larger one (a Chinese text's thousands) reads the rows."""
        if self.runs_fused and self._table_is_smaller(embedding, ids):
            from tfcharrnn import fused

            return fused.Lookup(ids, embedding.embeddings)
        return embedding(ids)  # (B, T, E)

    def _table_is_smaller(self, embedding, ids) -> bool:
        batch, steps = ids.shape
        if batch is None or steps is None:
            return True  # unknown until run: the table, as a small vocabulary wants
        return embedding.input_dim < batch // self.groups_for(batch) * steps

    def run_layer(self, layer, x, state, training: bool = False):
        """One recurrent layer over x (what layer_input or the layer below gave) from the layer's
        [state] -> ((B, T, H), [state])."""
        if self.runs_fused:
            from tfcharrnn import fused

            groups = self.groups_for(fused.batch_rows(x))
            return fused.sequence(layer, x, state, groups, fused.Options(self.matmul_dtype, self.compile_loops))
        out = layer(x, initial_state=list(state), training=training)
        return out[0], list(out[1:])  # (B, T, H), [(B, H)] * k
