"""Sampling strategies (small functions of logits) and the one compiled generation loop.

    from tfcharrnn.sampling import Generator
    gen = Generator(model)                                   # compiles once per model
    ids = gen.generate(prompt_ids, prompt_lengths, num_chars=200, seeds=[1, 2],
                       temperature=0.8, top_k=0, top_p=1.0)  # (B, num_chars) int32, -1 padded

Strategy parameters are per row, so one graph serves greedy, temperature, top-k and top-p at
once (the SavedModel's `serving_default` is this loop): temperature <= 0 means greedy (argmax);
top_k <= 0 means no top-k cut; top_p >= 1 means no nucleus cut.

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

import numpy as np
import tensorflow as tf

from tfcharrnn import rng



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
    never on what other rows of the batch ask for. temperature <= 0 is greedy.
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


def generate_ids(next_fn, state, prompt_ids, prompt_lengths, num_chars, seeds, temperature, top_k, top_p, vocab_size):
    """The generation loop. num_chars (B,) int32; returns (ids (B, max num_chars), state).

    next_fn: the seam `model.next`, or a `model.stepper()` (same function, fewer ops per step:
    it carries a tuple of (B, H) tensors that its split / join convert from and to `state`).
    The returned state is the one after the loop's last step (which may be up to UNROLL - 1
    characters past the longest row); callers that stream should use model.next directly.

    Row b's ids past num_chars[b] are -1. A row whose prompt is empty starts from a character
    drawn uniformly with its seed, and that character is the first one it returns.
    """
    prompt_ids = tf.cast(prompt_ids, tf.int32)
    prompt_lengths = tf.cast(prompt_lengths, tf.int32)
    num_chars = tf.cast(num_chars, tf.int32)
    seeds = tf.cast(seeds, tf.int64)
    temperature = tf.cast(temperature, tf.float32)
    top_k = tf.cast(top_k, tf.int32)
    top_p = tf.cast(top_p, tf.float32)
    batch = tf.shape(prompt_ids)[0]
    split = getattr(next_fn, "split", lambda s: s)
    join = getattr(next_fn, "join", lambda c: c)

    carry, last = read_prompt(next_fn, split(state), prompt_ids, prompt_lengths)
    start = tf.minimum(tf.cast(uniform(seeds, rng.START_STEP) * vocab_size, tf.int32), vocab_size - 1)
    empty = prompt_lengths <= 0
    current = tf.where(empty, start, last)
    # An empty-prompt row returns its start character first, so it generates one fewer.
    steps = tf.reduce_max(tf.concat([num_chars, [0]], 0))
    # UNROLL characters per loop iteration: the loop's own control ops cost as much as a small
    # model's step, so they are paid once per UNROLL characters. The last iteration may run up to
    # UNROLL - 1 characters past `steps`; they are cut off below (each step's random number
    # depends on its index only, so the extra steps change nothing before them).
    iterations = (steps + UNROLL - 1) // UNROLL
    # Every step's uniforms in one vectorised hash, before the loop: one slice per iteration
    # instead of a dozen integer ops per character inside it.
    step_index = tf.range(iterations * UNROLL)[:, None]  # (N, 1)
    uniforms = tf.reshape(uniform_from_hash(seed_hash(seeds)[None, :], step_index), [iterations, UNROLL, batch])  # (N/U, U, B)
    filtering = wants_filtering(top_k, top_p)
    carry_shapes = tf.nest.map_structure(lambda t: tf.TensorShape([None]).concatenate(t.shape[1:]), carry)

    def loop(filtered):
        picker = make_picker(temperature, top_k, top_p, filtering=filtered)

        def body(k, current, carry, out):
            u = tf.unstack(uniforms[k], num=UNROLL)  # UNROLL x (B,)
            drawn = []
            for j in range(UNROLL):
                logits, carry = next_fn(current, carry)  # (B, V)
                current = picker(logits, u[j])  # (B,)
                drawn.append(current)
            return k + 1, current, carry, out.write(k, tf.stack(drawn))  # (U, B) per iteration

        out = tf.TensorArray(tf.int32, size=iterations, element_shape=tf.TensorShape([UNROLL, None]))
        _, _, final, out = tf.while_loop(
            lambda k, *_: k < iterations,
            body,
            (tf.constant(0), current, carry, out),
            shape_invariants=(tf.TensorShape([]), tf.TensorShape([None]), carry_shapes, tf.TensorShape(None)),
        )
        # (B, steps); a zero-length request must not stack an empty TensorArray
        ids = tf.cond(steps > 0, lambda: tf.transpose(tf.reshape(out.stack(), [iterations * UNROLL, batch]))[:, :steps],
                      lambda: tf.zeros([batch, 0], tf.int32))
        return ids, final

    # top-k / top-p decided once per request: the unfiltered loop never pays for sorting
    ids, carry = tf.cond(filtering, lambda: loop(True), lambda: loop(False))
    shifted = tf.concat([start[:, None], ids[:, :-1]], axis=1)[:, :steps]  # empty prompts: start first
    ids = tf.where(empty[:, None], shifted, ids)
    position = tf.range(steps)[None, :]
    return tf.where(position < num_chars[:, None], ids, -tf.ones_like(ids)), join(carry)


class Generator:
    """A model's compiled generation loop, and its string edges."""

    def __init__(self, model, vocab=None):
        self.model = model
        self.vocab = vocab
        self._fn = tf.function(
            lambda *a: generate_ids(model.stepper(), model.initial_state(tf.shape(a[0])[0]), *a, vocab_size=model.config.vocab_size)[0],
            input_signature=[
                tf.TensorSpec([None, None], tf.int32),  # prompt ids
                tf.TensorSpec([None], tf.int32),  # prompt lengths
                tf.TensorSpec([None], tf.int32),  # num chars
                tf.TensorSpec([None], tf.int64),  # seeds
                tf.TensorSpec([None], tf.float32),  # temperature
                tf.TensorSpec([None], tf.int32),  # top_k
                tf.TensorSpec([None], tf.float32),  # top_p
            ],
        )

    def generate(self, prompt_ids, prompt_lengths, num_chars, seeds, temperature=1.0, top_k=0, top_p=1.0) -> np.ndarray:
        prompt_ids = np.asarray(prompt_ids, dtype=np.int32)
        if prompt_ids.ndim == 1:
            prompt_ids = prompt_ids[None, :]
        batch = prompt_ids.shape[0]
        if prompt_ids.shape[1] == 0:
            prompt_ids = np.zeros((batch, 1), np.int32)

        def rows(value, dtype):
            return np.broadcast_to(np.asarray(value, dtype=dtype), (batch,)).copy()

        return self._fn(
            prompt_ids,
            rows(prompt_lengths, np.int32),
            rows(num_chars, np.int32),
            rows(seeds, np.int64),
            rows(temperature, np.float32),
            rows(top_k, np.int32),
            rows(top_p, np.float32),
        ).numpy()

    def sample_text(self, prompt: str, num_chars: int, seed: int = 0, num_samples: int = 1, temperature=1.0, top_k=0, top_p=1.0) -> list[str]:
        """Strings in, strings out: the prompt is encoded, each sample decoded (prompt not included)."""
        ids = self.vocab.encode_prompt(prompt) if prompt else np.zeros(0, np.int32)
        prompt_ids = np.tile(ids.astype(np.int32)[None, :], (num_samples, 1))
        seeds = np.arange(num_samples, dtype=np.int64) + seed
        out = self.generate(prompt_ids, len(ids), num_chars, seeds, temperature, top_k, top_p)
        return [self.vocab.decode(row[row >= 0]) for row in out]
