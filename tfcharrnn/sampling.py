"""Sampling strategies (small functions of logits) and the one compiled generation loop.

    from tfcharrnn.sampling import Generator
    gen = Generator(model, vocab)                            # compiles once per model
    gen.sample_text("ROMEO:", 200, seed=7, temperature=0.8)  # -> [text]
    gen.sample("ROMEO:", 200, seed=7, stop=["\\n\\n"])        # -> [Sample(text, finish_reason, new_chars)]
    ids = gen.generate(prompt_ids, prompt_lengths, num_chars=200, seeds=[1, 2],
                       temperature=0.8, top_k=0, top_p=1.0)  # (B, N) int32, -1 padded

Strategy parameters are per row, so one graph serves greedy, temperature, top-k and top-p at
once (the SavedModel's signatures are this loop): temperature 0 means greedy (argmax), in every
runtime (a negative or NaN temperature is an error); top_k 0 means no top-k cut; top_p 1 means
no nucleus cut.

Stop strings (the rule every runtime follows: tfcharrnn.sample_settings): a row ends at the
first character that completes one of its stop strings; the text ends just before the stop
string, which matches only inside the generated text (never across the prompt); new_chars
counts what the model generated, the stop string included. The loop ends when every row has
ended, and a row's picks do not depend on the stop strings, so a text is the same with or
without them up to where it stops.

Randomness is a counter-based hash, not a random op: the uniform number used at step i of a
row with seed s is `tfcharrnn.rng.uniform(s, i)`, identical in TensorFlow, in a SavedModel on
TF Serving and in the pure-Python TFLite sampler. The pick is an inverse-CDF draw with that
number, so one seed gives one text in every runtime.

The loop reads the prompt once, one step per character, masking the state update of rows
whose prompt is shorter (no padding ever enters a state), then steps one character at a time,
carrying the state: `model.next(ids, state) -> (logits, state)` is all it needs from a model.
Generator and the SavedModel pass `model.stepper()`, the same function in about half the ops
(a small model's step is bound by the graph executor's cost per op, not by arithmetic).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from tfcharrnn import rng
from tfcharrnn.sample_settings import FINISH_REASONS, Sample, check_temperature, encode_stops


# ---------------------------------------------------------------------------------------------
# randomness: the counter hash of tfcharrnn.rng, in TensorFlow ops (int64 arithmetic, 32-bit values)

_M32 = 0xFFFFFFFF
UNROLL = 4  # characters per iteration of the generation loop


def _mix32(x):
    x = tf.bitwise.bitwise_and(tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16)) * rng.MUL, _M32)
    x = tf.bitwise.bitwise_and(tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16)) * rng.MUL, _M32)
    return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16))


def seed_hash(seeds):
    """The seed's half of the hash: (B,) int64, computed once per request, outside the loop."""
    s = tf.bitwise.bitwise_and(tf.cast(seeds, tf.int64), _M32)
    return _mix32(tf.bitwise.bitwise_xor(s, rng.SALT))


def uniform_from_hash(hashed_seeds, step):
    k = tf.bitwise.bitwise_and(tf.cast(step, tf.int64), _M32)
    h = _mix32(tf.bitwise.bitwise_xor(hashed_seeds, k))
    return tf.cast(tf.bitwise.right_shift(h, 8), tf.float32) * (1.0 / (1 << 24))


def uniform(seeds, step):
    """seeds (B,) int, step scalar int -> (B,) float32 in [0, 1); equals tfcharrnn.rng.uniform."""
    return uniform_from_hash(seed_hash(seeds), step)


# ---------------------------------------------------------------------------------------------
# strategies: each a small function of (B, V) logits


def greedy(logits):
    return tf.argmax(logits, axis=-1, output_type=tf.int32)  # (B,)


def apply_temperature(logits, temperature):
    safe = tf.where(temperature > 0, temperature, tf.ones_like(temperature))
    return logits / safe[:, None]  # (B, V)


def top_k_mask(sorted_logits, top_k):
    """Keep the k best of each row (sorted descending); k <= 0 keeps all."""
    vocab = tf.shape(sorted_logits)[-1]
    k = tf.where(top_k > 0, tf.minimum(top_k, vocab), vocab)  # (B,)
    rank = tf.range(vocab)[None, :]  # (1, V)
    return rank < k[:, None]  # (B, V)


def top_p_mask(sorted_probs, top_p):
    """Keep the smallest prefix whose probability reaches p (the best token always stays)."""
    before = tf.cumsum(sorted_probs, axis=-1, exclusive=True)  # (B, V)
    return before < top_p[:, None]


def inverse_cdf(probs, u):
    """Index of the first cumulative probability above u x total: one uniform, one draw."""
    cdf = tf.cumsum(probs, axis=-1)  # (B, V)
    threshold = u * cdf[:, -1]  # (B,)
    index = tf.reduce_sum(tf.cast(cdf <= threshold[:, None], tf.int32), axis=-1)
    # A token with zero probability can never be drawn: step back to the last kept one.
    positions = tf.range(probs.shape[-1] or tf.shape(probs)[-1])[None, :]  # (1, V); static V folds to a constant
    last_kept = tf.reduce_max(tf.where(probs > 0, positions, 0), axis=-1)
    return tf.minimum(index, last_kept)


def wants_filtering(top_k, top_p):
    """Scalar bool: does any row ask for a top-k or top-p cut?"""
    return tf.reduce_any(tf.logical_or(top_k > 0, top_p < 1.0))


def make_picker(temperature, top_k, top_p, filtering=None):
    """pick() with its per-request work done once: returns fn(logits (B, V), u (B,)) -> ids (B,).

    filtering: None decides per call (a tf.cond); True / False builds only that branch, for a
    loop that makes the decision once outside it (a cond inside a loop costs ops every step).
    """
    temperature = tf.cast(temperature, tf.float32)
    top_k = tf.cast(top_k, tf.int32)
    top_p = tf.cast(top_p, tf.float32)
    sampled_rows = temperature > 0
    inverse_t = (1.0 / tf.where(sampled_rows, temperature, tf.ones_like(temperature)))[:, None]  # (B, 1)
    if filtering is None:
        filtering = wants_filtering(top_k, top_p)

    def filtered(probs):
        sorted_probs, _ = tf.math.top_k(probs, k=tf.shape(probs)[-1])  # (B, V) descending
        keep = top_k_mask(sorted_probs, top_k)
        renormalised = tf.where(keep, sorted_probs, tf.zeros_like(sorted_probs))
        renormalised = renormalised / tf.reduce_sum(renormalised, axis=-1, keepdims=True)
        keep = tf.logical_and(keep, top_p_mask(renormalised, top_p))
        kept = tf.reduce_sum(tf.cast(keep, tf.int32), axis=-1)  # (B,) >= 1
        floor = tf.gather(sorted_probs, kept - 1, batch_dims=1)  # smallest kept probability
        return tf.where(probs >= floor[:, None], probs, tf.zeros_like(probs))

    def picker(logits, u):
        logits = tf.cast(logits, tf.float32)
        probs = tf.nn.softmax(logits * inverse_t)  # (B, V)
        if isinstance(filtering, bool):
            probs = filtered(probs) if filtering else probs
        else:
            probs = tf.cond(filtering, lambda: filtered(probs), lambda: probs)
        drawn = inverse_cdf(probs, u)
        # greedy rows (temperature <= 0): two ops, cheaper than a cond inside the loop
        return tf.where(sampled_rows, drawn, greedy(logits))

    return picker


def pick(logits, u, temperature, top_k, top_p):
    """The next id of each row: logits (B, V), u/temperature/top_p (B,) float, top_k (B,) int.

    The draw is always an inverse CDF over the vocabulary in id order; top-k and top-p only
    zero some probabilities. So a row's pick depends on its own logits, u and settings alone,
    never on what other rows of the batch ask for. temperature 0 is greedy.
    """
    return make_picker(temperature, top_k, top_p)(logits, u)


# ---------------------------------------------------------------------------------------------
# the loop


def read_prompt(next_fn, carry, prompt_ids, prompt_lengths):
    """Feed every prompt character but the last into the state, row by row.

    prompt_ids (B, P) right-padded, prompt_lengths (B,); carry: what next_fn carries (a state
    tensor, or a Stepper's tuple). Returns (carry, first input (B,)).
    A row with an empty prompt keeps the zero state; its first input is chosen by the caller.
    """
    steps = tf.shape(prompt_ids)[1] - 1

    def body(t, carry):
        _, new_carry = next_fn(prompt_ids[:, t], carry)
        active = t < prompt_lengths - 1  # (B,): padding never enters
        return t + 1, tf.nest.map_structure(lambda new, old: tf.where(_rows(active, new), new, old), new_carry, carry)

    _, carry = tf.while_loop(lambda t, _: t < steps, body, (tf.constant(0), carry))
    last = tf.gather(prompt_ids, tf.maximum(prompt_lengths - 1, 0), batch_dims=1)  # (B,)
    return carry, last


def _rows(mask, like):
    """(B,) bool -> broadcastable against `like` (B, ...)."""
    return tf.reshape(mask, [-1] + [1] * (like.shape.rank - 1))


class Generated(NamedTuple):
    """What generate_ids returns."""

    ids: tf.Tensor  # (B, N) int32: each row's text, -1 padded; N = the longest text of the batch
    new_chars: tf.Tensor  # (B,) int32: characters generated, a matched stop string's included
    stopped: tf.Tensor  # (B,) bool: True = a stop string ended the row, False = it reached num_chars
    state: object  # the state after the loop's last step (may be past a row's end)


@dataclass
class _Request:
    """The per-request tensors every generation loop reads."""

    next_fn: object
    carry: object  # what next_fn carries, after the prompt
    current: tf.Tensor  # (B,) the input of the first step
    start: tf.Tensor  # (B,) an empty prompt's first character
    empty: tf.Tensor  # (B,) bool: the prompt is empty
    num_chars: tf.Tensor  # (B,)
    uniforms: tf.Tensor  # (N/U, U, B): step i of row b draws with uniforms[i // U, i % U, b]
    iterations: tf.Tensor  # loop iterations for the longest row
    picker_args: tuple  # (temperature, top_k, top_p)

    def carry_shapes(self):
        return tf.nest.map_structure(lambda t: tf.TensorShape([None]).concatenate(t.shape[1:]), self.carry)


def generate_ids(next_fn, state, prompt_ids, prompt_lengths, num_chars, seeds, temperature, top_k, top_p, vocab_size,
                 stop_ids=None) -> Generated:
    """The generation loop. num_chars (B,) int32; see Generated for what it returns.

    next_fn: the seam `model.next`, or a `model.stepper()` (same function, fewer ops per step:
    it carries a tuple of (B, H) tensors that its split / join convert from and to `state`).
    A row whose prompt is empty starts from a character drawn uniformly with its seed, and that
    character is the first one it returns.

    stop_ids: None (no stop strings: the loop runs to the longest num_chars), or (B, K, L) int32,
    row b's K stop strings as ids, each left-aligned and -1 padded (an all -1 string is no stop).
    With stop strings the loop ends as soon as every row is done (tfcharrnn.sample_settings
    says when a row is done); the picks are those of the loop without them, so a row's text up to
    its end is the same either way.
    """
    prompt_ids = tf.cast(prompt_ids, tf.int32)
    prompt_lengths = tf.cast(prompt_lengths, tf.int32)
    num_chars = tf.cast(num_chars, tf.int32)
    seeds = tf.cast(seeds, tf.int64)
    batch = tf.shape(prompt_ids)[0]
    split = getattr(next_fn, "split", lambda s: s)
    join = getattr(next_fn, "join", lambda c: c)

    carry, last = read_prompt(next_fn, split(state), prompt_ids, prompt_lengths)
    start = tf.minimum(tf.cast(uniform(seeds, rng.START_STEP) * vocab_size, tf.int32), vocab_size - 1)
    empty = prompt_lengths <= 0
    steps = tf.reduce_max(tf.concat([num_chars, [0]], 0))
    # UNROLL characters per loop iteration: the loop's own control ops cost as much as a small
    # model's step, so they are paid once per UNROLL characters. The last iteration may run up to
    # UNROLL - 1 characters past `steps`; they are cut off afterwards (each step's random number
    # depends on its index only, so the extra steps change nothing before them).
    iterations = (steps + UNROLL - 1) // UNROLL
    # Every step's uniforms in one vectorised hash, before the loop: one slice per iteration
    # instead of a dozen integer ops per character inside it.
    step_index = tf.range(iterations * UNROLL)[:, None]  # (N, 1)
    uniforms = tf.reshape(uniform_from_hash(seed_hash(seeds)[None, :], step_index), [iterations, UNROLL, batch])  # (N/U, U, B)
    args = (tf.cast(temperature, tf.float32), tf.cast(top_k, tf.int32), tf.cast(top_p, tf.float32))
    r = _Request(next_fn, carry, tf.where(empty, start, last), start, empty, num_chars, uniforms, iterations, args)
    filtering = wants_filtering(args[1], args[2])
    # top-k / top-p decided once per request: the unfiltered loop never pays for sorting
    if stop_ids is None:
        drawn, carry = tf.cond(filtering, lambda: _length_loop(r, True), lambda: _length_loop(r, False))
        count, stop_len = tf.maximum(num_chars, 0), tf.zeros_like(num_chars)
    else:
        stops = _aligned_stops(tf.cast(stop_ids, tf.int32))
        drawn, count, stop_len, carry = tf.cond(filtering, lambda: _stop_loop(r, stops, True), lambda: _stop_loop(r, stops, False))
    # the emitted characters: an empty prompt's start character first, then the drawn ones
    with_start = tf.concat([start[:, None], drawn], axis=1)  # (B, D + 1)
    without = tf.concat([drawn, -tf.ones([batch, 1], tf.int32)], axis=1)
    keep = count - stop_len  # (B,) the text's length: the stop string is not returned
    width = tf.reduce_max(tf.concat([keep, [0]], 0))
    emitted = tf.where(empty[:, None], with_start, without)[:, :width]
    ids = tf.where(tf.range(width)[None, :] < keep[:, None], emitted, -tf.ones_like(emitted))
    return Generated(ids, count, stop_len > 0, join(carry))


def _drawn(out, iterations, batch):
    """The loop's TensorArray of (U, B) blocks -> (B, iterations x U); none written: (B, 0)."""
    # a zero-length request must not stack an empty TensorArray
    return tf.cond(iterations > 0, lambda: tf.transpose(tf.reshape(out.stack(), [iterations * UNROLL, batch])),
                   lambda: tf.zeros([batch, 0], tf.int32))


def _length_loop(r: _Request, filtered: bool):
    """Every row to the longest num_chars: -> (drawn (B, iterations x U), carry)."""
    picker = make_picker(*r.picker_args, filtering=filtered)

    def body(k, current, carry, out):
        u = tf.unstack(r.uniforms[k], num=UNROLL)  # UNROLL x (B,)
        drawn = []
        for j in range(UNROLL):
            logits, carry = r.next_fn(current, carry)  # (B, V)
            current = picker(logits, u[j])  # (B,)
            drawn.append(current)
        return k + 1, current, carry, out.write(k, tf.stack(drawn))  # (U, B) per iteration

    out = tf.TensorArray(tf.int32, size=r.iterations, element_shape=tf.TensorShape([UNROLL, None]))
    _, _, final, out = tf.while_loop(
        lambda k, *_: k < r.iterations,
        body,
        (tf.constant(0), r.current, r.carry, out),
        shape_invariants=(tf.TensorShape([]), tf.TensorShape([None]), r.carry_shapes(), tf.TensorShape(None)),
    )
    return _drawn(out, r.iterations, tf.shape(r.current)[0]), final


def _aligned_stops(stop_ids):
    """(B, K, L) left-aligned stop ids -> (aligned, wild, lengths): each string right-aligned in a
    window of W = max(L, 1) positions, `wild` (B, K, W) marking the positions before it."""
    width = tf.maximum(tf.shape(stop_ids)[2], 1)
    stop_ids = tf.pad(stop_ids, [[0, 0], [0, 0], [0, width - tf.shape(stop_ids)[2]]], constant_values=-1)
    lengths = tf.reduce_sum(tf.cast(stop_ids >= 0, tf.int32), axis=-1)  # (B, K)
    offset = tf.range(width)[None, None, :] - (width - lengths)[..., None]  # (B, K, W): index into the string
    aligned = tf.gather(stop_ids, tf.maximum(offset, 0), batch_dims=2)  # (B, K, W)
    return aligned, offset < 0, lengths


def _stop_loop(r: _Request, stops, filtered: bool):
    """Rows end at a stop string or num_chars; the loop ends when all have.

    -> (drawn (B, D), count (B,) characters generated, stop_len (B,) the matched stop string's
    length or 0, carry). `window` holds each row's last W generated characters (-1 where none yet:
    the prompt is never part of it).
    """
    aligned, wild, lengths = stops
    batch, width = tf.shape(r.current)[0], tf.shape(aligned)[2]
    picker = make_picker(*r.picker_args, filtering=filtered)

    def matched(window):  # (B, W) -> (B,) length of the longest stop string the window ends with, 0 if none
        equal = tf.logical_or(tf.equal(window[:, None, :], aligned), wild)  # (B, K, W)
        hit = tf.logical_and(tf.reduce_all(equal, axis=-1), lengths > 0)  # (B, K)
        return tf.maximum(tf.reduce_max(tf.where(hit, lengths, 0), axis=-1), 0)

    started = tf.logical_and(r.empty, r.num_chars > 0)  # an empty prompt's start character is generated text
    last_column = tf.equal(tf.range(width), width - 1)[None, :]  # (1, W)
    window = tf.where(tf.logical_and(started[:, None], last_column), r.start[:, None], -tf.ones([batch, width], tf.int32))
    count = tf.cast(started, tf.int32)
    stop_len = tf.where(started, matched(window), 0)
    done = tf.logical_or(stop_len > 0, count >= r.num_chars)

    def body(k, current, carry, window, count, stop_len, done, out):
        u = tf.unstack(r.uniforms[k], num=UNROLL)  # UNROLL x (B,)
        drawn = []
        for j in range(UNROLL):
            logits, carry = r.next_fn(current, carry)  # (B, V)
            current = picker(logits, u[j])  # (B,)
            drawn.append(current)
            live = tf.logical_not(done)  # a done row keeps stepping (its picks are cut off): rows never affect each other
            window = tf.where(live[:, None], tf.concat([window[:, 1:], current[:, None]], axis=1), window)
            count += tf.cast(live, tf.int32)
            hit = tf.where(live, matched(window), 0)
            stop_len = tf.maximum(stop_len, hit)
            done = tf.logical_or(done, tf.logical_or(hit > 0, count >= r.num_chars))
        return k + 1, current, carry, window, count, stop_len, done, out.write(k, tf.stack(drawn))

    out = tf.TensorArray(tf.int32, size=0, dynamic_size=True, element_shape=tf.TensorShape([UNROLL, None]))
    vector = tf.TensorShape([None])
    k, _, final, _, count, stop_len, _, out = tf.while_loop(
        lambda k, *v: tf.logical_and(k < r.iterations, tf.reduce_any(tf.logical_not(v[5]))),  # v[5]: done
        body,
        (tf.constant(0), r.current, r.carry, window, count, stop_len, done, out),
        shape_invariants=(tf.TensorShape([]), vector, r.carry_shapes(), tf.TensorShape([None, None]), vector, vector, vector,
                          tf.TensorShape(None)),
    )
    return _drawn(out, k, batch), count, stop_len, final


class Generator:
    """A model's compiled generation loop, and its string edges (the module docstring shows its use).
    The loop with stop strings is traced the first time one is asked for."""

    SPECS = (
        tf.TensorSpec([None, None], tf.int32),  # prompt ids
        tf.TensorSpec([None], tf.int32),  # prompt lengths
        tf.TensorSpec([None], tf.int32),  # num chars
        tf.TensorSpec([None], tf.int64),  # seeds
        tf.TensorSpec([None], tf.float32),  # temperature
        tf.TensorSpec([None], tf.int32),  # top_k
        tf.TensorSpec([None], tf.float32),  # top_p
    )

    def __init__(self, model, vocab=None):
        self.model = model
        self.vocab = vocab
        self._fns = {}

    def _fn(self, with_stops: bool):
        if with_stops not in self._fns:
            model = self.model

            def run(*a):
                g = generate_ids(model.stepper(), model.initial_state(tf.shape(a[0])[0]), *a[:7], vocab_size=model.config.vocab_size,
                                 stop_ids=a[7] if with_stops else None)
                return g.ids, g.new_chars, g.stopped

            specs = self.SPECS + ((tf.TensorSpec([None, None, None], tf.int32),) if with_stops else ())
            self._fns[with_stops] = tf.function(run, input_signature=specs)
        return self._fns[with_stops]

    def _run(self, prompt_ids, prompt_lengths, num_chars, seeds, temperature=1.0, top_k=0, top_p=1.0, stop_ids=()):
        """-> numpy (ids (B, N) -1 padded, new_chars (B,), stopped (B,)). stop_ids: every row's stop strings, as id arrays."""
        check_temperature(temperature)
        prompt_ids = np.asarray(prompt_ids, dtype=np.int32)
        if prompt_ids.ndim == 1:
            prompt_ids = prompt_ids[None, :]
        batch = prompt_ids.shape[0]
        if prompt_ids.shape[1] == 0:
            prompt_ids = np.zeros((batch, 1), np.int32)

        def rows(value, dtype):
            return np.broadcast_to(np.asarray(value, dtype=dtype), (batch,)).copy()

        args = [prompt_ids, rows(prompt_lengths, np.int32), rows(num_chars, np.int32), rows(seeds, np.int64),
                rows(temperature, np.float32), rows(top_k, np.int32), rows(top_p, np.float32)]
        stop_ids = [s for s in stop_ids if len(s)]
        if stop_ids:
            table = -np.ones((len(stop_ids), max(len(s) for s in stop_ids)), np.int32)  # (K, L) left-aligned, -1 padded
            for i, s in enumerate(stop_ids):
                table[i, : len(s)] = s
            args.append(np.broadcast_to(table, (batch, *table.shape)).copy())
        return tuple(t.numpy() for t in self._fn(bool(stop_ids))(*args))

    def generate(self, prompt_ids, prompt_lengths, num_chars, seeds, temperature=1.0, top_k=0, top_p=1.0, stop_ids=()) -> np.ndarray:
        """(B, N) int32: each row's text as ids, -1 padded (N: the longest text)."""
        return self._run(prompt_ids, prompt_lengths, num_chars, seeds, temperature, top_k, top_p, stop_ids)[0]

    def sample(self, prompt: str, num_chars: int, seed: int = 0, num_samples: int = 1, temperature=1.0, top_k=0, top_p=1.0,
               stop=()) -> list[Sample]:
        """Strings in, Samples out: sample i uses seed + i; the prompt is not included in the text."""
        stop_ids = encode_stops(self.vocab, stop)
        ids = self.vocab.encode_prompt(prompt) if prompt else np.zeros(0, np.int32)
        prompt_ids = np.tile(ids.astype(np.int32)[None, :], (num_samples, 1))
        seeds = np.arange(num_samples, dtype=np.int64) + seed
        out, new_chars, stopped = self._run(prompt_ids, len(ids), num_chars, seeds, temperature, top_k, top_p, stop_ids)
        return [Sample(self.vocab.decode(row[row >= 0]), FINISH_REASONS[0] if s else FINISH_REASONS[1], int(n))
                for row, n, s in zip(out, new_chars, stopped)]

    def sample_text(self, prompt: str, num_chars: int, seed: int = 0, num_samples: int = 1, temperature=1.0, top_k=0, top_p=1.0,
                    stop=()) -> list[str]:
        """The texts of sample(...)."""
        return [s.text for s in self.sample(prompt, num_chars, seed, num_samples, temperature, top_k, top_p, stop)]
