"""The child side of tfcharrnn.onednn's measurement: TensorFlow's matmuls, timed under the
TF_ENABLE_ONEDNN_OPTS this process was started with.

    python -m tfcharrnn.onednn_probe      # started by tfcharrnn.onednn.probe (once per setting), never by hand

Once ready it prints {"onednn": bool}, TensorFlow's own answer (did the variable take?); then, for
every line it reads on stdin, one JSON line {workload: seconds per call}; it ends with its stdin.

The workloads are where oneDNN's kernels would run in tfcharrnn (the fused loops' recurrence is
compiled by XLA, which these settings do not touch):
  train-2x512, train-2x128   the training step's large matmuls for the 2x512 LSTM (batch 32 x 100:
                             half the benchmark's batch, to keep the probe short) and the 2x128
                             one (32 x 64): the input projection of every step x @ W, and its
                             gradients x^T dz and dz W^T
  loop-batch1                a generation loop at batch 1 (the sampler, the SavedModel, evaluation):
                             64 steps of a 2x512 LSTM cell and its logits in a tf.while_loop
"""

from __future__ import annotations

import json
import sys
import time

MIN_SECONDS = 0.05  # per workload and round: short ones repeat, and the mean of the repeats counts
TRAIN_SHAPES = {"train-2x512": (32 * 100, 512, 4 * 512), "train-2x128": (32 * 64, 128, 4 * 128)}  # rows, inputs, gates
LOOP = {"hidden": 512, "layers": 2, "vocab": 65, "steps": 64}


def projection(rows, inputs, gates):
    """x @ W and its two gradients: (rows, inputs) @ (inputs, gates), x^T dz, dz W^T."""
    import tensorflow as tf

    x, w, dz = tf.random.normal([rows, inputs]), tf.random.normal([inputs, gates]), tf.random.normal([rows, gates])

    @tf.function
    def run():
        y = tf.matmul(x, w)  # (R, G)
        dw = tf.matmul(x, dz, transpose_a=True)  # (I, G)
        dx = tf.matmul(dz, w, transpose_b=True)  # (R, I)
        return tf.reduce_sum(y) + tf.reduce_sum(dw) + tf.reduce_sum(dx)

    return run


def generation_loop(hidden, layers, vocab, steps):
    """A batch-1 LSTM stack stepped in a tf.while_loop, as the sampler's loop runs it."""
    import tensorflow as tf

    kernels = [tf.random.normal([hidden, 4 * hidden], stddev=0.05) for _ in range(layers)]
    recurrent = [tf.random.normal([hidden, 4 * hidden], stddev=0.05) for _ in range(layers)]
    out = tf.random.normal([hidden, vocab], stddev=0.05)

    @tf.function
    def run():
        def body(t, x, total, hs, cs):
            new_h, new_c = [], []
            for k, r, h, c in zip(kernels, recurrent, hs, cs):
                i, f, g, o = tf.split(tf.matmul(x, k) + tf.matmul(h, r), 4, axis=1)  # (1, H) each
                c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
                x = tf.sigmoid(o) * tf.tanh(c)
                new_h.append(x)
                new_c.append(c)
            logits = tf.matmul(x, out)  # (1, V)
            return t + 1, x, total + tf.reduce_max(logits), new_h, new_c

        zeros = [tf.zeros([1, hidden]) for _ in range(layers)]
        return tf.while_loop(lambda t, *_: t < steps, body, (tf.constant(0), tf.ones([1, hidden]), tf.constant(0.0), zeros, zeros))[2]

    return run


def timed(fn) -> float:
    """Seconds per call of ``fn``, over at least MIN_SECONDS."""
    calls, t0 = 0, time.perf_counter()
    while calls == 0 or time.perf_counter() - t0 < MIN_SECONDS:
        float(fn())  # the result read back: the call has finished
        calls += 1
    return (time.perf_counter() - t0) / calls


def main() -> int:
    import tensorflow as tf  # noqa: F401 - reads TF_ENABLE_ONEDNN_OPTS now
    from tensorflow.python.util import _pywrap_util_port

    workloads = {name: projection(*shape) for name, shape in TRAIN_SHAPES.items()}
    workloads["loop-batch1"] = generation_loop(**LOOP)
    for fn in workloads.values():
        float(fn())  # tracing and oneDNN's primitive creation, untimed
    print(json.dumps({"onednn": bool(_pywrap_util_port.IsMklEnabled())}), flush=True)
    for _ in sys.stdin:
        print(json.dumps({name: timed(fn) for name, fn in workloads.items()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
