"""Fused LSTM (plain or MI-LSTM) / GRU / SimpleRNN sequences for CPU training, on the Keras layers' own weights.

    from tfcharrnn import fused
    hs, state = fused.sequence(model.rnn_layers[0], x, state)              # x (B, T, E) -> (B, T, H)
    hs, state = fused.sequence(layer, x, state, row_groups=2, options=fused.Options("bfloat16"))

A model reaches these through the recurrence seam (tfcharrnn.recurrence: ``CharRNN(config,
recurrence=Recurrence.fused())``); nothing here is switched by module state: every choice is an
argument. (A ``kernel`` argument below is a weight matrix, as Keras' ``cell.kernel`` is.)

Why: a Keras RNN layer on a CPU steps its cell through a while loop and lets autodiff
differentiate that loop, so every time step pays for an input matmul, a dozen small ops of
executor overhead and, on the way back, its own weight-gradient matmuls. Here, as cuDNN does it:
  * the input projection x @ W + b of all T steps is one large matmul, outside the loop (plain
    ops, so autodiff gives dW = x^T dz and dx = dz W^T), and the recurrent kernel's gradient
    dR = h_prev^T dz is one matmul after the backward loop (2-D matmuls on time-major (T*B, .)
    matrices, where oneDNN runs near the matmul peak; the loops' custom gradient returns dz);
    the first layer may get ``Lookup(ids, embedding table)`` instead of the embedded rows, and its
    projection is then a lookup in table @ W + b: three (V, E) matmuls and a scatter-add replace
    three of (T*B, E);
  * the loop does only the recurrent matmul h @ R and the gate arithmetic; the backward loop
    carries dh (and dc), and every gate derivative that does not depend on them is computed for
    all steps at once before it;
  * ``row_groups`` > 1 runs the rows of a batch as independent groups, whose loops the executor
    runs at the same time on different cores (a loop step's matmul is too small for the intra-op
    pool to split well);
  * the two loops (forward and backward) are compiled with XLA (``Options.compile_loops``): the
    gate arithmetic of a step becomes one or two fused kernels instead of a dozen TensorFlow ops,
    each of which costs microseconds of executor overhead, which is what a small model on a CPU
    is bound by.
In float32 the functions compute exactly what the Keras cells compute (tests compare them
against the layers and a naive NumPy reference), so checkpoints, sampling and export don't care
which path trained the weights. docs/performance.md has the measurements behind these choices.

LSTM trick: tanh(x) = 2 * sigmoid(2x) - 1, so the cell-candidate columns are pre-scaled by 2
and one sigmoid covers all four gates. Multiplicative integration (tfcharrnn.model.MILSTMCell)
writes its pre-activations alpha * xW * hR + beta_h * hR + beta_x * xW + b as rest + gain * hR,
both parts computed for every step outside the loop (for the first layer, rows of (V, G) tables);
the loops multiply by the gain, and the forward loop keeps hR for the gain's gradient.
"""

from __future__ import annotations

import collections
import functools
from typing import NamedTuple

import tensorflow as tf


class Options(NamedTuple):
    """What a call of these loops may vary, passed in (never read from module state).

    matmul_dtype "bfloat16" is an opt-in mixed precision: the large matmuls outside the loops (the
    input projection, the weight gradients, the input gradient) take bfloat16 operands, which CPUs
    with AVX512_BF16 or AMX run 2-3x faster; the recurrence, the gates and the weights stay
    float32, and results differ from the Keras layers by bfloat16 rounding (about 3 significant
    digits). compile_loops False runs the two loops as plain tf.while_loops (no XLA).
    """

    matmul_dtype: str = "float32"
    compile_loops: bool = True



def _mm(a, b, options: Options, **kwargs):
    """tf.matmul, with bfloat16 operands when the options ask for them (float32 result)."""
    if options.matmul_dtype == "float32":
        return tf.matmul(a, b, **kwargs)
    dtype = tf.as_dtype(options.matmul_dtype)
    return tf.cast(tf.matmul(tf.cast(a, dtype), tf.cast(b, dtype), **kwargs), a.dtype)


@functools.cache
def _compiled(fn):
    """fn's XLA-compiled tf.function (one per function, shared by every model)."""
    return tf.function(fn, jit_compile=True, autograph=False)


def _run(fn, options: Options, *args):
    """fn(*args), compiled unless the options say not; the inputs are cut from any tape: the custom
    gradient below is the gradient, and a tape watching the compiled call would ask XLA for a
    differentiable loop."""
    return (_compiled(fn) if options.compile_loops else fn)(*[tf.stop_gradient(a) for a in args])


class Lookup(collections.namedtuple("Lookup", ["ids", "table"])):
    """The first layer's input as the ids (B, T) and the embedding table (V, E) they index, not
    the (B, T, E) rows: its input projection is then a lookup in table @ W + b (V, G), so the
    three matmuls of (T * B) rows by E (x @ W, and dW, dx on the way back) become three of V rows."""


def batch_rows(x):
    """Batch rows of a layer input: (B, T, E) tensor or Lookup (static, None if unknown)."""
    return x.ids.shape[0] if isinstance(x, Lookup) else x.shape[0]


def _split_rows(x, parts):
    if isinstance(x, Lookup):
        return [Lookup(ids, x.table) for ids in tf.split(x.ids, parts)]
    return tf.split(x, parts)


def _input_projection(x, kernel, bias, options: Options):
    """x (B, T, E) or Lookup -> x @ W + b for every step at once, time-major (T, B, G). Plain ops:
    autodiff gives the weight and input gradients as large matmuls (for a Lookup: a scatter-add
    of the rows into (V, G), then (V, E) matmuls)."""
    return _input_projections(x, kernel, options, lambda xw: xw + bias)[0]


def _input_projections(x, kernel, options: Options, *parts):
    """x @ W for every step at once, and each of ``parts`` (elementwise functions of it) time-major
    (T, B, G); for a Lookup each part is computed on the (V, G) table, then its rows gathered."""
    if isinstance(x, Lookup):
        xw = _mm(tf.convert_to_tensor(x.table), kernel, options)  # (V, G)
        rows = tf.transpose(x.ids)  # (T, B)
        return [tf.gather(part(xw), rows) for part in parts]  # (T, B, G) each
    batch = tf.shape(x)[0]
    x2, steps = _time_major_2d(x)
    xw = _mm(x2, kernel, options)  # one matmul for every step
    return [tf.reshape(part(xw), [steps, batch, -1]) for part in parts]


def _array(like, steps, element_shape):
    return tf.TensorArray(like.dtype, size=steps, element_shape=element_shape)


def _time_major_2d(x):
    """(B, T, E) -> (T * B, E) time-major rows, and T."""
    steps = tf.shape(x)[1]
    return tf.reshape(tf.transpose(x, [1, 0, 2]), [-1, tf.shape(x)[2]]), steps


def _recurrent_grad(h_prev, dz, options: Options):
    """dR = h_prev^T dz over every step and row: h_prev (T, B, H), dz (T, B, G) -> (H, G), one matmul."""
    return _mm(tf.reshape(h_prev, [-1, tf.shape(h_prev)[2]]), tf.reshape(dz, [-1, tf.shape(dz)[2]]), options, transpose_a=True)


def _shifted(first, seq):
    """[first, seq[0], ..., seq[T-2]]: the previous step's value at every step."""
    return tf.concat([first[None], seq[:-1]], axis=0)


# ---------------------------------------------------------------------------------------------
# LSTM (Keras gate order i, f, c, o)


def _lstm_loop(xw, gain, h0, c0, recurrent):
    """xw (T, B, 4H) = x @ W + b, c-columns doubled; gain (T, B, 4H) or None -> out (B, T, H), h_T, c_T,
    h_prev, gates, cells, and with a gain (multiplicative integration) hr = h_prev @ R, the pre-activations
    then being xw + gain * hr."""
    steps = tf.shape(xw)[0]
    arrays = [_array(xw, steps, xw.shape[1:]), _array(c0, steps, c0.shape)] + ([_array(xw, steps, xw.shape[1:])] if gain is not None else [])

    def body(t, h, c, gs, cs, *hrs):
        hr = tf.matmul(h, recurrent)  # (B, 4H)
        s = tf.sigmoid(tf.gather(xw, t) + (hr if gain is None else tf.gather(gain, t) * hr))  # (B, 4H): i, f, (g+1)/2, o
        i, f, g2, o = tf.split(s, 4, axis=1)
        c = f * c + i * (2.0 * g2 - 1.0)
        h = o * tf.tanh(c)
        return (t + 1, h, c, gs.write(t, s), cs.write(t, c), *[a.write(t, hr) for a in hrs])

    _, h_last, c_last, gs, cs, *hrs = tf.while_loop(lambda t, *_: t < steps, body, (tf.constant(0), h0, c0, *arrays))
    gs, cs = gs.stack(), cs.stack()  # (T, B, 4H), (T, B, H)
    hs = tf.split(gs, 4, axis=2)[3] * tf.tanh(cs)
    return (tf.transpose(hs, [1, 0, 2]), h_last, c_last, _shifted(h0, hs), gs, cs, *[a.stack() for a in hrs])


def _lstm_forward(xw, h0, c0, recurrent):
    return _lstm_loop(xw, None, h0, c0, recurrent)


def _mi_lstm_forward(xw, gain, h0, c0, recurrent):
    return _lstm_loop(xw, gain, h0, c0, recurrent)


def _lstm_backward_loop(d_out, d_h, d_c, gs, cs, c0, recurrent, gain):
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
        d_hr = dz if gain is None else dz * tf.gather(gain, t)
        return t - 1, tf.matmul(d_hr, recurrent_t), dc * tf.gather(f, t), dzs.write(t, dz)

    _, dh0, dc0, dzs = tf.while_loop(lambda t, *_: t >= 0, back, (steps - 1, d_h, d_c, _array(gs, steps, gs.shape[1:])))
    return dzs.stack(), dh0, dc0


def _lstm_backward(d_out, d_h, d_c, gs, cs, c0, recurrent):
    return _lstm_backward_loop(d_out, d_h, d_c, gs, cs, c0, recurrent, None)


def _mi_lstm_backward(d_out, d_h, d_c, gs, cs, c0, recurrent, gain):
    return _lstm_backward_loop(d_out, d_h, d_c, gs, cs, c0, recurrent, gain)


@functools.cache
def _lstm_recurrence(options: Options):
    """The recurrence for these options (a custom gradient cannot take non-tensor arguments)."""

    @tf.custom_gradient
    def recurrence(xw, recurrent, h0, c0):
        """xw (T, B, 4H) -> (B, T, H), h_T, c_T; the gradient of xw is dz, the gates' pre-activations'."""
        out, h_last, c_last, h_prev, gs, cs = _run(_lstm_forward, options, xw, h0, c0, recurrent)

        def grad(d_out, d_h, d_c):
            dz, dh0, dc0 = _run(_lstm_backward, options, d_out, d_h, d_c, gs, cs, c0, recurrent)  # (T, B, 4H)
            return dz, _recurrent_grad(h_prev, dz, options), dh0, dc0

        return (out, h_last, c_last), grad

    return recurrence


@functools.cache
def _mi_lstm_recurrence(options: Options):
    @tf.custom_gradient
    def recurrence(xw, gain, recurrent, h0, c0):
        """Multiplicative integration: pre-activations xw + gain * (h_prev @ R), xw and gain (T, B, 4H)."""
        out, h_last, c_last, h_prev, gs, cs, hr = _run(_mi_lstm_forward, options, xw, gain, h0, c0, recurrent)

        def grad(d_out, d_h, d_c):
            dz, dh0, dc0 = _run(_mi_lstm_backward, options, d_out, d_h, d_c, gs, cs, c0, recurrent, gain)  # (T, B, 4H)
            return dz, dz * hr, _recurrent_grad(h_prev, dz * gain, options), dh0, dc0

        return (out, h_last, c_last), grad

    return recurrence


def lstm_sequence(x, kernel, recurrent, bias, h0, c0, options: Options = Options()):
    """x (B, T, E) or Lookup; kernel (E, 4H), recurrent (H, 4H), bias (4H,), their c-columns doubled.

    Returns (B, T, H), h_T, c_T.
    """
    return _lstm_recurrence(options)(_input_projection(x, kernel, bias, options), recurrent, h0, c0)


def mi_lstm_sequence(x, kernel, recurrent, bias, integration, scale, h0, c0, options: Options = Options()):
    """Multiplicative integration (tfcharrnn.model.MILSTMCell): integration = (alpha, beta_h, beta_x),
    each (4H,); scale (4H,) doubles the c-columns of the pre-activations. Returns (B, T, H), h_T, c_T."""
    alpha, beta_h, beta_x = integration
    rest, gain = _input_projections(x, kernel, options, lambda xw: (beta_x * xw + bias) * scale, lambda xw: alpha * xw + beta_h)
    return _mi_lstm_recurrence(options)(rest, gain, recurrent * scale, h0, c0)


def _c_doubling(units: int):
    """(4H,): 2 for the cell-candidate columns, 1 elsewhere."""
    return tf.concat([tf.ones([2 * units]), 2.0 * tf.ones([units]), tf.ones([units])], 0)


def lstm_layer(layer, x, state, options: Options = Options()):
    """Keras LSTM layer weights, x (B, T, E) or Lookup, state [h, c] -> (B, T, H), [h, c]."""
    cell = layer.cell
    scale = _c_doubling(cell.units)
    kernel = tf.convert_to_tensor(cell.kernel) * scale
    recurrent = tf.convert_to_tensor(cell.recurrent_kernel) * scale
    bias = tf.convert_to_tensor(cell.bias) * scale
    hs, h, c = lstm_sequence(x, kernel, recurrent, bias, state[0], state[1], options)
    return hs, [h, c]


def mi_lstm_layer(layer, x, state, options: Options = Options()):
    """An RNN of MILSTMCells (multiplicative integration), x (B, T, E) or Lookup, state [h, c] -> (B, T, H), [h, c]."""
    cell = layer.cell
    integration = tuple(tf.convert_to_tensor(v) for v in (cell.alpha, cell.beta_h, cell.beta_x))
    hs, h, c = mi_lstm_sequence(x, tf.convert_to_tensor(cell.kernel), tf.convert_to_tensor(cell.recurrent_kernel),
                                tf.convert_to_tensor(cell.bias), integration, _c_doubling(cell.units), state[0], state[1], options)
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


@functools.cache
def _gru_recurrence(options: Options):
    @tf.custom_gradient
    def recurrence(xw, recurrent, recurrent_bias, h0):
        """xw (T, B, 3H) -> (B, T, H), h_T; the gradient of xw is the input side's."""
        out, h_last, h_prev, saved = _run(_gru_forward, options, xw, h0, recurrent, recurrent_bias)

        def grad(d_out, d_h):
            dx, dm, d_recurrent_bias, dh0 = _run(_gru_backward, options, d_out, d_h, h_prev, saved, recurrent)  # (T, B, 3H) x 2
            return dx, _recurrent_grad(h_prev, dm, options), d_recurrent_bias, dh0

        return (out, h_last), grad

    return recurrence


def gru_sequence(x, kernel, recurrent, input_bias, recurrent_bias, h0, options: Options = Options()):
    """x (B, T, E) or Lookup; kernel (E, 3H), recurrent (H, 3H), biases (3H,) -> (B, T, H), h_T."""
    return _gru_recurrence(options)(_input_projection(x, kernel, input_bias, options), recurrent, recurrent_bias, h0)


def gru_layer(layer, x, state, options: Options = Options()):
    cell = layer.cell
    if not cell.reset_after:
        raise ValueError("fused GRU supports reset_after=True (the Keras and cuDNN default) only")
    bias = tf.convert_to_tensor(cell.bias)  # (2, 3H): input bias, recurrent bias
    hs, h = gru_sequence(x, tf.convert_to_tensor(cell.kernel), tf.convert_to_tensor(cell.recurrent_kernel), bias[0], bias[1], state[0], options)
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


@functools.cache
def _rnn_recurrence(options: Options):
    @tf.custom_gradient
    def recurrence(xw, recurrent, h0):
        """xw (T, B, H) -> (B, T, H), h_T; the gradient of xw is that of the pre-activations."""
        out, h_last, h_prev, hs = _run(_rnn_forward, options, xw, h0, recurrent)

        def grad(d_out, d_h):
            da, dh0 = _run(_rnn_backward, options, d_out, d_h, hs, recurrent)  # (T, B, H)
            return da, _recurrent_grad(h_prev, da, options), dh0

        return (out, h_last), grad

    return recurrence


def rnn_sequence(x, kernel, recurrent, bias, h0, options: Options = Options()):
    """x (B, T, E) or Lookup; kernel (E, H), recurrent (H, H), bias (H,) -> (B, T, H), h_T."""
    return _rnn_recurrence(options)(_input_projection(x, kernel, bias, options), recurrent, h0)


def rnn_layer(layer, x, state, options: Options = Options()):
    cell = layer.cell
    hs, h = rnn_sequence(x, tf.convert_to_tensor(cell.kernel), tf.convert_to_tensor(cell.recurrent_kernel), tf.convert_to_tensor(cell.bias), state[0], options)
    return hs, [h]


# ---------------------------------------------------------------------------------------------

_LAYERS = {"LSTMCell": lstm_layer, "MILSTMCell": mi_lstm_layer, "GRUCell": gru_layer, "SimpleRNNCell": rnn_layer}  # by the layer's cell


def sequence(layer, x, state, row_groups: int = 1, options: Options = Options()):
    """A Keras LSTM / GRU / SimpleRNN layer's weights (or an RNN of MILSTMCells') over x (B, T, E) or Lookup from [state]:
    -> ((B, T, H), [state]). With row_groups > 1 the batch's rows run as that many independent
    groups, whose loops (forward and backward) the executor runs at the same time on different
    cores; autodiff adds the weights' gradients up over the groups."""
    run_layer = _LAYERS[type(layer.cell).__name__]
    if row_groups == 1:
        return run_layer(layer, x, list(state), options)
    outs = [run_layer(layer, xs, list(ss), options) for xs, *ss in zip(_split_rows(x, row_groups), *[tf.split(s, row_groups) for s in state])]
    hs = tf.concat([o[0] for o in outs], axis=0)  # (B, T, H)
    return hs, [tf.concat([o[1][k] for o in outs], axis=0) for k in range(len(state))]
