"""Fused LSTM / GRU / SimpleRNN sequences for CPU training, on the Keras layers' own weights.

    from tfcharrnn import fused
    fused.enable(model)          # model.call now runs these kernels whenever no GPU is visible
    fused.disable(model)         # back to the Keras layers (cuDNN on a GPU)
    fused.enable(model, row_groups=1)  # one loop over the whole batch (default BATCH_SPLITS = 2 groups)

Why: a Keras RNN layer on a CPU steps its cell through a while loop and lets autodiff
differentiate that loop, so every time step pays for an input matmul, a dozen small ops of
executor overhead and, on the way back, its own weight-gradient matmuls. Here, as cuDNN does it:
  * the input projection x @ W + b of all T steps is one large matmul, outside the loop (plain
    ops, so autodiff gives dW = x^T dz and dx = dz W^T), and the recurrent kernel's gradient
    dR = h_prev^T dz is one matmul after the backward loop (2-D matmuls on time-major (T*B, .)
    matrices, where oneDNN runs near the matmul peak; the loops' custom gradient returns dz);
    the first layer gets ``Lookup(ids, embedding table)`` instead of the embedded rows, and its
    projection is a lookup in table @ W + b: three (V, E) matmuls and a scatter-add replace three
    of (T*B, E) (model.call does this; -4% step time for the 2x128 LSTM on 2 cores);
  * the loop does only the recurrent matmul h @ R and the gate arithmetic; the backward loop
    carries dh (and dc), and every gate derivative that does not depend on them is computed for
    all steps at once before it;
  * the rows of a batch run as two independent groups (``BATCH_SPLITS``), whose loops the
    executor runs at the same time on two cores (a loop step's matmul is too small for the
    intra-op pool to split well; benchmark on 2 cores, same run: +39% small 2x128 LSTM in a
    focused run, +9% 2x512 LSTM, +10% 2x512 GRU; about nothing for 2x512 at batch 32). The
    trainer goes further: it splits the batch itself and runs each group's whole step (every
    layer, the loss, the backward pass) as one XLA computation, with the kernels told to run one
    group (``row_groups(model, batch)``, ``one_group(model)``; see training._build_steps);
  * the two loops (forward and backward) are compiled with XLA (``LOOP_JIT``): the gate
    arithmetic of a step becomes one or two fused kernels instead of a dozen TensorFlow ops, each
    of which costs microseconds of executor overhead, which is what a small model on a CPU is
    bound by. Set ``fused.LOOP_JIT = False`` (before the first trace) for plain while loops.
``fused.set_matmul_dtype("bfloat16")`` is an opt-in mixed precision: the large matmuls outside
the loops take bfloat16 operands (2-3x faster on CPUs with AVX512_BF16 / AMX), the recurrence
stays float32; results then differ from the Keras layers by bfloat16 rounding.
By default the functions compute exactly what the Keras cells compute in float32 (tests compare them
against the layers and a naive NumPy reference), so checkpoints, sampling and export don't care
which path trained the weights.

LSTM trick: tanh(x) = 2 * sigmoid(2x) - 1, so the cell-candidate columns are pre-scaled by 2
and one sigmoid covers all four gates.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import os

import tensorflow as tf

LOOP_JIT = True  # XLA-compile the recurrent loops (read when a model's step is traced)
# Row groups per sequence (read at trace time): the rows of a batch are independent, so their
# loops can run on different cores at once. A loop's step is too small for the intra-op pool to
# split a matmul well (measured: two half-batch loops side by side take ~0.6-0.8 of one loop over
# the whole batch); 1 = one loop over the whole batch.
BATCH_SPLITS = 2 if (os.cpu_count() or 1) >= 2 else 1
MATMUL_DTYPE = None  # None: float32 everywhere (the default, exact); "bfloat16": see set_matmul_dtype

_COMPILED = {}


def set_matmul_dtype(dtype=None) -> None:
    """Opt-in mixed precision: "bfloat16" runs the large matmuls outside the loops (the input
    projection, the weight gradients and the input gradient) with bfloat16 operands, which CPUs
    with AVX512_BF16 or AMX run 2-3x faster; the recurrence, the gates and the weights stay
    float32. Results differ from the Keras layers by bfloat16 rounding (about 3 significant
    digits). None restores exact float32. Takes effect for steps traced afterwards."""
    global MATMUL_DTYPE
    if dtype not in (None, "float32", "bfloat16"):
        raise ValueError(f"matmul dtype {dtype!r}: use None (float32) or 'bfloat16'")
    MATMUL_DTYPE = None if dtype in (None, "float32") else dtype


def _mm(a, b, **kwargs):
    """tf.matmul, with bfloat16 operands when MATMUL_DTYPE asks for them (float32 result)."""
    if MATMUL_DTYPE is None:
        return tf.matmul(a, b, **kwargs)
    return tf.cast(tf.matmul(tf.cast(a, MATMUL_DTYPE), tf.cast(b, MATMUL_DTYPE), **kwargs), a.dtype)


def _compiled(fn):
    """fn itself, or its XLA-compiled tf.function (one per function, shared by every model)."""
    if not LOOP_JIT:
        return fn
    compiled = _COMPILED.get(fn)
    if compiled is None:
        compiled = _COMPILED[fn] = tf.function(fn, jit_compile=True, autograph=False)
    return compiled


def _run(fn, *args):
    """fn(*args), compiled; the inputs are cut from any tape: the custom gradient below is the
    gradient, and a tape watching the compiled call would ask XLA for a differentiable loop."""
    return _compiled(fn)(*[tf.stop_gradient(a) for a in args])


class Lookup(collections.namedtuple("Lookup", ["ids", "table"])):
    """The first layer's input as the ids (B, T) and the embedding table (V, E) they index, not
    the (B, T, E) rows: its input projection is then a lookup in table @ W + b (V, G), so the
    three matmuls of (T * B) rows by E (x @ W, and dW, dx on the way back) become three of V rows."""


def _rows(x):
    """Batch rows of a layer input: (B, T, E) tensor or Lookup."""
    return x.ids.shape[0] if isinstance(x, Lookup) else x.shape[0]


def _split_rows(x, parts):
    if isinstance(x, Lookup):
        return [Lookup(ids, x.table) for ids in tf.split(x.ids, parts)]
    return tf.split(x, parts)


def _input_projection(x, kernel, bias):
    """x (B, T, E) or Lookup -> x @ W + b for every step at once, time-major (T, B, G). Plain ops:
    autodiff gives the weight and input gradients as large matmuls (for a Lookup: a scatter-add
    of the rows into (V, G), then (V, E) matmuls)."""
    if isinstance(x, Lookup):
        return tf.gather(_mm(tf.convert_to_tensor(x.table), kernel) + bias, tf.transpose(x.ids))  # (T, B, G)
    batch = tf.shape(x)[0]
    x2, steps = _time_major_2d(x)
    return tf.reshape(_mm(x2, kernel) + bias, [steps, batch, -1])  # one matmul for every step


def _array(like, steps, element_shape):
    return tf.TensorArray(like.dtype, size=steps, element_shape=element_shape)


def _time_major_2d(x):
    """(B, T, E) -> (T * B, E) time-major rows, and T."""
    steps = tf.shape(x)[1]
    return tf.reshape(tf.transpose(x, [1, 0, 2]), [-1, tf.shape(x)[2]]), steps


def _recurrent_grad(h_prev, dz):
    """dR = h_prev^T dz over every step and row: h_prev (T, B, H), dz (T, B, G) -> (H, G), one matmul."""
    return _mm(tf.reshape(h_prev, [-1, tf.shape(h_prev)[2]]), tf.reshape(dz, [-1, tf.shape(dz)[2]]), transpose_a=True)


def _shifted(first, seq):
    """[first, seq[0], ..., seq[T-2]]: the previous step's value at every step."""
    return tf.concat([first[None], seq[:-1]], axis=0)


# ---------------------------------------------------------------------------------------------
# LSTM (Keras gate order i, f, c, o)


def _lstm_forward(xw, h0, c0, recurrent):
    """xw (T, B, 4H) = x @ W + b, c-columns doubled -> out (B, T, H), h_T, c_T, h_prev, gates, cells."""
    steps = tf.shape(xw)[0]

    def body(t, h, c, gs, cs):
        s = tf.sigmoid(tf.gather(xw, t) + tf.matmul(h, recurrent))  # (B, 4H): i, f, (g+1)/2, o
        i, f, g2, o = tf.split(s, 4, axis=1)
        c = f * c + i * (2.0 * g2 - 1.0)
        h = o * tf.tanh(c)
        return t + 1, h, c, gs.write(t, s), cs.write(t, c)

    _, h_last, c_last, gs, cs = tf.while_loop(
        lambda t, *_: t < steps, body, (tf.constant(0), h0, c0, _array(xw, steps, xw.shape[1:]), _array(c0, steps, c0.shape))
    )
    gs, cs = gs.stack(), cs.stack()  # (T, B, 4H), (T, B, H)
    hs = tf.split(gs, 4, axis=2)[3] * tf.tanh(cs)
    return tf.transpose(hs, [1, 0, 2]), h_last, c_last, _shifted(h0, hs), gs, cs


def _lstm_backward(d_out, d_h, d_c, gs, cs, c0, recurrent):
    """-> dz (T, B, 4H) (the gradient of the gates' pre-activations), dh0, dc0."""
    d_hs = tf.transpose(d_out, [1, 0, 2])  # (T, B, H)
    i, f, g2, o = tf.split(gs, 4, axis=2)
    tanh_c = tf.tanh(cs)
    di, df, dg, do = tf.split(gs * (1.0 - gs), 4, axis=2)  # sigmoid'
    to_dc = o * (1.0 - tanh_c * tanh_c)  # dh -> dc
    # dz = [dc * g * i', dc * c_prev * f', dc * 2i * g2', dh * tanh(c) * o']: dc and dh times these
    coeff = tf.concat([(2.0 * g2 - 1.0) * di, _shifted(c0, cs) * df, 2.0 * i * dg, tanh_c * do], axis=2)
    recurrent_t = tf.transpose(recurrent)
    steps = tf.shape(gs)[0]

    def back(t, dh, dc, dzs):
        dh = dh + tf.gather(d_hs, t)
        dc = dc + dh * tf.gather(to_dc, t)
        dz = tf.concat([dc, dc, dc, dh], axis=1) * tf.gather(coeff, t)  # (B, 4H)
        return t - 1, tf.matmul(dz, recurrent_t), dc * tf.gather(f, t), dzs.write(t, dz)

    _, dh0, dc0, dzs = tf.while_loop(lambda t, *_: t >= 0, back, (steps - 1, d_h, d_c, _array(gs, steps, gs.shape[1:])))
    return dzs.stack(), dh0, dc0


@tf.custom_gradient
def _lstm_recurrence(xw, recurrent, h0, c0):
    """xw (T, B, 4H) -> (B, T, H), h_T, c_T; the gradient of xw is dz, the gates' pre-activations'."""
    out, h_last, c_last, h_prev, gs, cs = _run(_lstm_forward, xw, h0, c0, recurrent)

    def grad(d_out, d_h, d_c):
        dz, dh0, dc0 = _run(_lstm_backward, d_out, d_h, d_c, gs, cs, c0, recurrent)  # (T, B, 4H)
        return dz, _recurrent_grad(h_prev, dz), dh0, dc0

    return (out, h_last, c_last), grad


def lstm_sequence(x, kernel, recurrent, bias, h0, c0):
    """x (B, T, E) or Lookup; kernel (E, 4H), recurrent (H, 4H), bias (4H,), their c-columns doubled.

    Returns (B, T, H), h_T, c_T.
    """
    return _lstm_recurrence(_input_projection(x, kernel, bias), recurrent, h0, c0)


def lstm_layer(layer, x, state):
    """Keras LSTM layer weights, x (B, T, E) or Lookup, state [h, c] -> (B, T, H), [h, c]."""
    cell = layer.cell
    units = cell.units
    scale = tf.concat([tf.ones([2 * units]), 2.0 * tf.ones([units]), tf.ones([units])], 0)  # doubles the c-columns
    kernel = tf.convert_to_tensor(cell.kernel) * scale
    recurrent = tf.convert_to_tensor(cell.recurrent_kernel) * scale
    bias = tf.convert_to_tensor(cell.bias) * scale
    hs, h, c = lstm_sequence(x, kernel, recurrent, bias, state[0], state[1])
    return hs, [h, c]


# ---------------------------------------------------------------------------------------------
# GRU (Keras reset_after=True, gate order z, r, h; h = z * h_prev + (1 - z) * candidate)


def _gru_forward(xw, h0, recurrent, recurrent_bias):
    """xw (T, B, 3H) = x @ W + input bias -> out (B, T, H), h_T, h_prev, saved (T, B, 4H) = [z, r, n, hn]."""
    steps = tf.shape(xw)[0]
    units = h0.shape[1]

    def body(t, h, hs, saved):
        x_zr, x_n = tf.split(tf.gather(xw, t), [2 * units, units], axis=1)
        m_zr, m_n = tf.split(tf.matmul(h, recurrent) + recurrent_bias, [2 * units, units], axis=1)
        zr = tf.sigmoid(x_zr + m_zr)
        z, r = tf.split(zr, 2, axis=1)
        n = tf.tanh(x_n + r * m_n)
        h = n + z * (h - n)
        return t + 1, h, hs.write(t, h), saved.write(t, tf.concat([zr, n, m_n], axis=1))

    _, h_last, hs, saved = tf.while_loop(
        lambda t, *_: t < steps, body, (tf.constant(0), h0, _array(h0, steps, h0.shape), _array(xw, steps, [h0.shape[0], 4 * units]))
    )
    hs = hs.stack()
    return tf.transpose(hs, [1, 0, 2]), h_last, _shifted(h0, hs), saved.stack()


def _gru_backward(d_out, d_h, h_prev, saved, recurrent):
    """-> dx (T, B, 3H) input side, dm (T, B, 3H) recurrent side, dm's sum over steps, dh0."""
    d_hs = tf.transpose(d_out, [1, 0, 2])
    z, r, n, hn = tf.split(saved, 4, axis=2)
    # every gradient below is dh (the total gradient of a step's output) times one of these
    gz = (h_prev - n) * z * (1.0 - z)  # -> pre-activation of z
    gn = (1.0 - z) * (1.0 - n * n)  # -> pre-activation of n
    gr = gn * hn * r * (1.0 - r)  # -> pre-activation of r
    coeff_m = tf.concat([gz, gr, gn * r], axis=2)  # recurrent side: n sees r * hn
    recurrent_t = tf.transpose(recurrent)
    steps = tf.shape(saved)[0]

    def back(t, dh, dhs):
        dh = dh + tf.gather(d_hs, t)
        dm = tf.concat([dh, dh, dh], axis=1) * tf.gather(coeff_m, t)  # (B, 3H)
        return t - 1, dh * tf.gather(z, t) + tf.matmul(dm, recurrent_t), dhs.write(t, dh)

    _, dh0, dhs = tf.while_loop(lambda t, *_: t >= 0, back, (steps - 1, d_h, _array(d_h, steps, d_h.shape)))
    dh_all = dhs.stack()  # (T, B, H)
    dm = tf.concat([dh_all, dh_all, dh_all], axis=2) * coeff_m
    dx = tf.concat([dh_all * gz, dh_all * gr, dh_all * gn], axis=2)
    return dx, dm, tf.reduce_sum(dm, axis=[0, 1]), dh0


@tf.custom_gradient
def _gru_recurrence(xw, recurrent, recurrent_bias, h0):
    """xw (T, B, 3H) -> (B, T, H), h_T; the gradient of xw is the input side's."""
    out, h_last, h_prev, saved = _run(_gru_forward, xw, h0, recurrent, recurrent_bias)

    def grad(d_out, d_h):
        dx, dm, d_recurrent_bias, dh0 = _run(_gru_backward, d_out, d_h, h_prev, saved, recurrent)  # (T, B, 3H) x 2
        return dx, _recurrent_grad(h_prev, dm), d_recurrent_bias, dh0

    return (out, h_last), grad


def gru_sequence(x, kernel, recurrent, input_bias, recurrent_bias, h0):
    """x (B, T, E) or Lookup; kernel (E, 3H), recurrent (H, 3H), biases (3H,) -> (B, T, H), h_T."""
    return _gru_recurrence(_input_projection(x, kernel, input_bias), recurrent, recurrent_bias, h0)


def gru_layer(layer, x, state):
    cell = layer.cell
    if not cell.reset_after:
        raise ValueError("fused GRU supports reset_after=True (the Keras and cuDNN default) only")
    bias = tf.convert_to_tensor(cell.bias)  # (2, 3H): input bias, recurrent bias
    hs, h = gru_sequence(x, tf.convert_to_tensor(cell.kernel), tf.convert_to_tensor(cell.recurrent_kernel), bias[0], bias[1], state[0])
    return hs, [h]


# ---------------------------------------------------------------------------------------------
# SimpleRNN (tanh)


def _rnn_forward(xw, h0, recurrent):
    steps = tf.shape(xw)[0]

    def body(t, h, hs):
        h = tf.tanh(tf.gather(xw, t) + tf.matmul(h, recurrent))
        return t + 1, h, hs.write(t, h)

    _, h_last, hs = tf.while_loop(lambda t, *_: t < steps, body, (tf.constant(0), h0, _array(h0, steps, h0.shape)))
    hs = hs.stack()
    return tf.transpose(hs, [1, 0, 2]), h_last, _shifted(h0, hs), hs


def _rnn_backward(d_out, d_h, hs, recurrent):
    d_hs = tf.transpose(d_out, [1, 0, 2])
    deriv = 1.0 - hs * hs
    recurrent_t = tf.transpose(recurrent)
    steps = tf.shape(hs)[0]

    def back(t, dh, das):
        da = (dh + tf.gather(d_hs, t)) * tf.gather(deriv, t)
        return t - 1, tf.matmul(da, recurrent_t), das.write(t, da)

    _, dh0, das = tf.while_loop(lambda t, *_: t >= 0, back, (steps - 1, d_h, _array(hs, steps, hs.shape[1:])))
    return das.stack(), dh0


@tf.custom_gradient
def _rnn_recurrence(xw, recurrent, h0):
    """xw (T, B, H) -> (B, T, H), h_T; the gradient of xw is that of the pre-activations."""
    out, h_last, h_prev, hs = _run(_rnn_forward, xw, h0, recurrent)

    def grad(d_out, d_h):
        da, dh0 = _run(_rnn_backward, d_out, d_h, hs, recurrent)  # (T, B, H)
        return da, _recurrent_grad(h_prev, da), dh0

    return (out, h_last), grad


def rnn_sequence(x, kernel, recurrent, bias, h0):
    """x (B, T, E) or Lookup; kernel (E, H), recurrent (H, H), bias (H,) -> (B, T, H), h_T."""
    return _rnn_recurrence(_input_projection(x, kernel, bias), recurrent, h0)


def rnn_layer(layer, x, state):
    cell = layer.cell
    hs, h = rnn_sequence(x, tf.convert_to_tensor(cell.kernel), tf.convert_to_tensor(cell.recurrent_kernel), tf.convert_to_tensor(cell.bias), state[0])
    return hs, [h]


# ---------------------------------------------------------------------------------------------

_KERNELS = {"lstm": lstm_layer, "gru": gru_layer, "rnn": rnn_layer}


def _parts(row_groups, batch) -> int:
    """Row groups for a batch of ``batch`` rows: BATCH_SPLITS (or the override) when they divide it
    into groups of two or more rows, else 1."""
    parts = BATCH_SPLITS if row_groups is None else row_groups
    if parts <= 1 or batch is None or batch % parts or batch // parts < 2:
        return 1
    return parts


def sequence_kernel(layer, x, state, row_groups=None):
    """Dispatch on the layer kind: (layer, x (B, T, E) or Lookup, [state]) -> ((B, T, H), [state])."""
    name = type(layer).__name__
    kernel = _KERNELS[{"LSTM": "lstm", "GRU": "gru", "SimpleRNN": "rnn"}[name]]
    parts = _parts(row_groups, _rows(x))
    if parts == 1:
        return kernel(layer, x, list(state))
    # Independent row groups: the executor runs their loops (forward and backward) at the same
    # time on different cores; the weights' gradients add up over the groups by autodiff.
    outs = [kernel(layer, xs, list(ss)) for xs, *ss in zip(_split_rows(x, parts), *[tf.split(s, parts) for s in state])]
    hs = tf.concat([o[0] for o in outs], axis=0)  # (B, T, H)
    return hs, [tf.concat([o[1][k] for o in outs], axis=0) for k in range(len(state))]


def enable(model, row_groups=None) -> None:
    """Run ``model``'s sequences through these kernels; ``row_groups`` overrides BATCH_SPLITS for it."""
    model.sequence_kernel = sequence_kernel if row_groups is None else functools.partial(sequence_kernel, row_groups=row_groups)


def disable(model) -> None:
    model.sequence_kernel = None


def is_fused_kernel(kernel) -> bool:
    """Whether a model's ``sequence_kernel`` is this module's (which takes a Lookup as input)."""
    return (kernel.func if isinstance(kernel, functools.partial) else kernel) is sequence_kernel


def row_groups(model, batch) -> int:
    """The row groups ``model``'s kernels split a batch of ``batch`` rows into (1: fused off, or no split)."""
    kernel = getattr(model, "sequence_kernel", None)
    if not is_fused_kernel(kernel):
        return 1  # off, or some other kernel: it splits nothing we know of
    override = kernel.keywords.get("row_groups") if isinstance(kernel, functools.partial) else None
    return _parts(override, batch)


@contextlib.contextmanager
def one_group(model):
    """Within (at trace time): ``model``'s kernels run whatever batch they get as one group, because
    the caller has split the batch into row groups itself (see training: a whole step per group)."""
    saved = model.sequence_kernel
    model.sequence_kernel = functools.partial(sequence_kernel, row_groups=1)
    try:
        yield
    finally:
        model.sequence_kernel = saved
