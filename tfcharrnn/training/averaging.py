"""The weights' moving average (--ema_momentum): what validation, samples and checkpoints use.

    from tfcharrnn.training.averaging import WarmAverage, swap_average
    class AveragingAdam(WarmAverage, keras.optimizers.Adam): ...   # (training.optimizer)
    optimizer = AveragingAdam(learning_rate=5e-3, use_ema=True, ema_momentum=0.995)
    swap_average(model, optimizer)   # the model now holds the average, the optimizer the raw weights
    swap_average(model, optimizer)   # and back

Keras' optimizers keep the average themselves (``use_ema``); WarmAverage only changes how fast it forgets.
"""

from __future__ import annotations

from keras import ops

# The average spans about the last WARMUP of the steps taken (a fifth; the trainer's start-up line
# says so) until that reaches its setting's 1 / (1 - momentum): a short run (tens or hundreds of
# steps) would otherwise average in its first, untrained weights (0.995 ** 200 = 0.37 of the average).
# A fifth scored best of a twentieth to a half in five 3-minute runs, 0.001-0.003 nats/char below the
# tenth it replaced (docs/performance.md, quality).
WARMUP = 0.2


def average_momentum(step, momentum):
    """The momentum of the update after ``step`` steps (0 at the first: the average starts as the
    first step's weights): min(momentum, step / (step + 1 / WARMUP))."""
    return ops.minimum(momentum, step / (step + 1 / WARMUP))


class WarmAverage:
    """Mixed into a Keras optimizer (before it): its moving average of the weights warms up (average_momentum)."""

    def _update_model_variables_moving_average(self, trainable_variables):
        if not self.use_ema:
            return
        step = ops.cast(self.iterations, "float32")  # the update after the weights' step `iterations` + 1
        for var, average in zip(trainable_variables, self._model_variables_moving_average):
            if average is not None:
                m = ops.cast(average_momentum(step, self.ema_momentum), var.dtype)
                average.assign(m * average + (1 - m) * var)


def steps_taken(optimizer) -> int:
    """The optimizer's step counter as a Python int (also for a tf.distribute variable)."""
    return int(ops.convert_to_numpy(optimizer.iterations.value))


def has_average(optimizer) -> bool:
    """Whether the optimizer keeps an average of the weights yet (from the first step on)."""
    return bool(optimizer.use_ema) and steps_taken(optimizer) > 0


def swap_average(model, optimizer) -> None:
    """Exchange the model's weights with the optimizer's moving average of them (nothing without one).
    Done twice it is undone exactly; a checkpoint is written between two swaps, so its weights are
    the average (what sampling, export and evaluation load) and the optimizer's average slots hold
    the raw weights, and a resumed run swaps once after loading to train on from where it was (unless
    the run kept its raw weights at the end: the checkpoint's train_state["weights"] says which)."""
    import tensorflow as tf

    if not has_average(optimizer):
        return
    for weight, average in zip(model.trainable_variables, optimizer._model_variables_moving_average):
        raw = tf.identity(tf.convert_to_tensor(weight))  # a copy: the assign below must not change it
        weight.assign(average)
        average.assign(raw)
