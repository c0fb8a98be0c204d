"""Training paths: the model's recurrence plus how the trainer splits and compiles a step, by name.

    from tfcharrnn.paths import TrainPath, named
    path = named("step-groups")        # TrainPath("step-groups", Recurrence.fused(row_groups=2), step_groups=2)
    path.recurrence                    # what the model runs (tfcharrnn.recurrence)
    path.groups_for(batch=32)          # 2: the trainer splits this batch itself

| name | what a training step runs |
| --- | --- |
| `keras` | the Keras layers in a tf.function step (cuDNN on a GPU) |
| `fused` | the fused CPU kernels, one loop over the whole batch |
| `layer-groups` | the fused kernels, the batch's rows as two groups inside each layer, loops side by side |
| `step-groups` | the trainer splits the batch in two; each group's whole step (every layer, the loss, the backward pass) is one XLA computation, and the two run side by side |
| `xla` | the whole step one XLA computation (fused kernels, row groups inside each layer) |

A `-bf16` suffix (`fused-bf16`, `layer-groups-bf16`, `xla-bf16`) gives the fused kernels' large matmuls
bfloat16 operands: an opt-in mixed precision (results agree with float32 to about 3 digits).
Every float32 path computes the same function as the Keras cells (tests hold them to 1e-5).
"Row groups" is the one idea behind `layer-groups` and `step-groups`: independent rows of a
batch, run side by side on the cores; the two differ in where the batch is split. On a machine
with one core the groups collapse to one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from tfcharrnn.recurrence import Recurrence, default_row_groups


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
    if name == "fused":
        return TrainPath(name, Recurrence.fused(row_groups=1))
    if name == "layer-groups":
        return TrainPath(name, Recurrence.fused(groups))
    if name == "step-groups":
        return TrainPath(name, Recurrence.fused(groups), step_groups=groups)
    if name == "xla":
        return TrainPath(name, Recurrence.fused(groups), jit=True)
    raise KeyError(name)


BASE_NAMES = ("keras", "fused", "layer-groups", "step-groups", "xla")
BF16_NAMES = ("fused-bf16", "layer-groups-bf16", "xla-bf16")
NAMES = BASE_NAMES + BF16_NAMES


def named(name: str) -> TrainPath:
    """The path called ``name`` (one of NAMES); KeyError for another name."""
    if name in BF16_NAMES:
        base = _base(name[: -len("-bf16")])
        return TrainPath(name, dataclasses.replace(base.recurrence, matmul_dtype="bfloat16"), base.step_groups, base.jit)
    if name not in BASE_NAMES:
        raise KeyError(name)
    return _base(name)


def from_flags(fused: bool = True, jit: bool = False, matmul_dtype: str = "float32", single_device: bool = True) -> TrainPath:
    """The path the --fused / --jit / --matmul_dtype flags describe. Whole-step groups need one
    replica on the default strategy; bfloat16 matmuls keep the row groups inside each layer
    (oneDNN runs them faster than XLA does)."""
    bf16 = "-bf16" if matmul_dtype == "bfloat16" else ""
    if not fused:
        return named("keras")
    if jit:
        return named("xla" + bf16)
    if bf16 or not single_device:
        return named("layer-groups" + bf16)
    return named("step-groups")
