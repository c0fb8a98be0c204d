"""What TF Serving loads: the model's variables and four tf.functions in a tf.Module.

    from tfcharrnn.serving import build_serving_module
    module = build_serving_module(model, vocab, max_new_chars=10_000)
    tf.saved_model.save(module, "saved_models/NAME/1", signatures=module.signatures())

tfcharrnn.export writes it (versions, atomic publishing, the LiteRT model beside it); the
signatures are documented there and in docs/serving.md. Strings are converted at the edges
(`encode`, `decode`); in between, `serving_default` and `generate` run
tfcharrnn.sampling.generate_ids, the loop the in-package sampler runs, through the model's
`stepper()`: `generate` is `serving_default` plus a stop string per row, and `serving_default`
keeps the inputs it always had, so clients written for it need no change (TF Serving's REST layer
wants every input of a signature in a request: docs/serving.md, "Why two generation signatures").
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfcharrnn.errors import UserError
from tfcharrnn.sample_settings import FINISH_REASONS, MAX_STOP_CHARS
from tfcharrnn.sampling import generate_ids


def token_bytes(vocab) -> list[bytes]:
    """The bytes each token stands for: UTF-8 of the character, or the byte itself (bytes mode)."""
    if vocab.mode == "bytes":
        return [c.encode("latin-1") for c in vocab.chars]
    try:
        return [c.encode("utf-8") for c in vocab.chars]
    except UnicodeEncodeError:
        raise UserError("the vocabulary holds a character that has no UTF-8 form (a lone surrogate); "
                        "retrain on text decoded as UTF-8, or use --byte_mode") from None


class _Unsaved:
    """Holds the Keras model where tf.Module's tracking does not look (see ServingModule)."""

    def __init__(self, model):
        self.model = model


class ServingModule(tf.Module):
    """The module tf.saved_model.save writes: serving_default, generate, step, vocabulary.

    The Keras model is deliberately not a tracked attribute (it sits in an untracked holder):
    tracking it would save each Keras variable twice (the Keras wrapper's export copy and its
    tf.Variable), the functions would read one copy and the TF1 loader that TF Serving and
    `saved_model_cli run` use would restore the other ("Could not find variable ..."). Like
    keras.export.ExportArchive, the module tracks the tf.Variables its functions use.
    """

    def __init__(self, model, vocab, max_new_chars: int):
        super().__init__(name="tfcharrnn_serving")
        cfg = model.config
        if vocab.size != cfg.vocab_size:
            raise UserError(f"the vocabulary has {vocab.size} characters but the model {cfg.vocab_size}; they come from different checkpoints")
        self._held = _Unsaved(model)
        self.vocab_size, self.byte_mode, self.cap = cfg.vocab_size, vocab.mode == "bytes", int(max_new_chars)
        codes = np.array([ord(c) for c in vocab.chars], dtype=np.int64)
        order = np.argsort(codes, kind="stable")
        self.sorted_codes = tf.constant(codes[order])  # (V,) int64, ascending
        self.sorted_ids = tf.constant(order.astype(np.int32))  # (V,) id of each sorted code
        self.token_bytes = tf.constant(token_bytes(vocab), dtype=tf.string)  # (V,)
        self.token_text = tf.constant([c.encode("utf-8", "surrogatepass") for c in vocab.chars], dtype=tf.string)
        state_spec = tf.TensorSpec([None, cfg.num_states, cfg.hidden_size], tf.float32, name="state")
        request = [
            tf.TensorSpec([None], tf.string, name="prompt"),
            tf.TensorSpec([None], tf.int32, name="max_new_chars"),
            tf.TensorSpec([None], tf.float32, name="temperature"),
            tf.TensorSpec([None], tf.int32, name="top_k"),
            tf.TensorSpec([None], tf.float32, name="top_p"),
            tf.TensorSpec([None], tf.int64, name="seed"),
        ]
        self.serving_default = tf.function(self._serving_default, input_signature=request)
        self.generate = tf.function(self._generate, input_signature=request + [tf.TensorSpec([None], tf.string, name="stop")])
        self.step = tf.function(self._step, input_signature=[tf.TensorSpec([None], tf.int32, name="token_id"), state_spec])
        self.vocabulary = tf.function(self._vocabulary, input_signature=[tf.TensorSpec([None], tf.int32, name="ids")])
        used, seen = [], set()
        for fn in self.signatures().values():
            for v in fn.variables:
                if id(v) not in seen:
                    seen.add(id(v))
                    used.append(v)
        self.model_variables = used  # the tf.Variables the traced functions capture

    def keras_model(self):
        return self._held.model

    def signatures(self) -> dict:
        return {
            "serving_default": self.serving_default.get_concrete_function(),
            "generate": self.generate.get_concrete_function(),
            "step": self.step.get_concrete_function(),
            "vocabulary": self.vocabulary.get_concrete_function(),
        }

    # -- strings <-> ids ---------------------------------------------------------------------
    def encode(self, strings, what: str = "prompt"):
        """string[B] -> (checks, ragged ids (B, None) int32): characters outside the vocabulary and
        text that is not UTF-8 fail the checks (their messages name ``what``)."""
        if self.byte_mode:  # every byte is a token: latin-1 maps byte b to code point b, and never fails
            codes = tf.cast(tf.strings.unicode_decode(strings, "ISO-8859-1"), tf.int64)
            checks = []
        else:
            valid = tf.equal(tf.strings.unicode_transcode(strings, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD), strings)
            checks = [tf.debugging.Assert(tf.reduce_all(valid), [f"{what} is not valid UTF-8 text; send UTF-8 strings"])]
            codes = tf.cast(tf.strings.unicode_decode(strings, "UTF-8", errors="replace", replacement_char=0xFFFD), tf.int64)
        flat = codes.flat_values
        pos = tf.minimum(tf.searchsorted(self.sorted_codes, flat, side="left", out_type=tf.int32), self.vocab_size - 1)
        known = tf.equal(tf.gather(self.sorted_codes, pos), flat)
        checks.append(self._known_check(flat, known, what))
        return checks, codes.with_flat_values(tf.where(known, tf.gather(self.sorted_ids, pos), 0))

    def encode_prompt(self, prompt):
        """string[B] -> (checks, ids (B, P>=1) right-padded with 0, lengths (B,))."""
        checks, ids_r = self.encode(prompt)
        lengths = tf.cast(ids_r.row_lengths(), tf.int32)
        batch = tf.shape(prompt, out_type=tf.int64)[0]
        width = tf.maximum(tf.reduce_max(tf.concat([ids_r.row_lengths(), [0]], 0)), 1)
        return checks, ids_r.to_tensor(default_value=0, shape=tf.stack([batch, width])), lengths

    def encode_stop(self, stop):
        """string[B] -> (checks, ids (B, 1, L) -1 padded): one stop string per row ("" = none)."""
        checks, ids_r = self.encode(stop, "stop")
        lengths = ids_r.row_lengths()
        checks.append(tf.debugging.Assert(
            tf.reduce_all(lengths <= MAX_STOP_CHARS),
            [f"stop must be at most {MAX_STOP_CHARS} {'bytes' if self.byte_mode else 'characters'} long, got lengths", lengths],
            summarize=8))
        return checks, ids_r.to_tensor(default_value=-1)[:, None, :]

    def _known_check(self, flat, known, what):
        """Refuse characters the model never saw, naming them."""
        unknown, _ = tf.unique(tf.boolean_mask(flat, tf.logical_not(known)))
        if self.byte_mode:
            shown = tf.strings.as_string(unknown)
        else:
            shown = tf.strings.unicode_encode(tf.cast(unknown[:, None], tf.int32), "UTF-8", errors="replace")
        fix = ("; remove them or export a model trained on text that has them" if what == "prompt" else
               "; the model could never generate them, so leave them out")
        return tf.debugging.Assert(
            tf.reduce_all(known),
            [f"{what} has characters the model never saw:", shown, "(code points" if not self.byte_mode else "(byte values", unknown,
             ")" + fix],
            summarize=20)

    def decode(self, ids):
        """ids (B, N) int32, -1 padded -> string[B] of UTF-8 text."""
        kept = tf.ragged.boolean_mask(ids, ids >= 0)
        text = tf.strings.reduce_join(tf.gather(self.token_bytes, kept), axis=1)
        if self.byte_mode:  # generated bytes may cut a character: invalid sequences become U+FFFD
            text = tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD)
        return text

    # -- signatures ----------------------------------------------------------------------------
    def _request_checks(self, prompt, max_new_chars, temperature, top_k, top_p, seed, stop=None) -> list:
        batch = tf.shape(prompt)[0]
        inputs = (max_new_chars, temperature, top_k, top_p, seed) + (() if stop is None else (stop,))
        names = "max_new_chars/temperature/top_k/top_p/seed" + ("" if stop is None else "/stop")
        sizes = tf.stack([tf.size(x) for x in inputs])
        return [
            tf.debugging.Assert(tf.reduce_all(tf.equal(sizes, batch)), [
                "every input needs the same batch size; prompt has", batch, f"rows, {names} have", sizes]),
            tf.debugging.Assert(tf.reduce_all(tf.logical_and(max_new_chars >= 0, max_new_chars <= self.cap)),
                                [f"max_new_chars must be between 0 and {self.cap}, got", max_new_chars], summarize=8),
            tf.debugging.Assert(tf.reduce_all(tf.logical_and(temperature >= 0.0, tf.math.is_finite(temperature))),
                                ["temperature must be a finite number >= 0 (0 = greedy), got", temperature], summarize=8),
            tf.debugging.Assert(tf.reduce_all(top_k >= 0), ["top_k must be >= 0 (0 = off), got", top_k], summarize=8),
            tf.debugging.Assert(tf.reduce_all(tf.logical_and(top_p > 0.0, top_p <= 1.0)),
                                ["top_p must be in (0, 1] (1 = off), got", top_p], summarize=8),
        ]

    def _run(self, prompt, max_new_chars, temperature, top_k, top_p, seed, stop=None):
        """Checks, encoding and the loop shared by serving_default and generate."""
        model = self._held.model
        batch = tf.shape(prompt)[0]
        checks = self._request_checks(prompt, max_new_chars, temperature, top_k, top_p, seed, stop)
        with tf.control_dependencies(checks):
            prompt = tf.identity(prompt)
        encode_checks, ids, lengths = self.encode_prompt(prompt)
        stop_ids = None
        if stop is not None:
            stop_checks, stop_ids = self.encode_stop(stop)
            encode_checks += stop_checks

        def run():
            g = generate_ids(model.stepper(), model.initial_state(batch), ids, lengths, max_new_chars,
                             seed, temperature, top_k, top_p, self.vocab_size, stop_ids)
            return g.ids, g.new_chars, g.stopped

        with tf.control_dependencies(encode_checks):
            # generate_ids cannot stack an empty TensorArray of unknown batch (0 rows, or 0 chars for
            # every row): answer those requests without running it.
            wanted = tf.logical_and(batch > 0, tf.reduce_max(tf.concat([max_new_chars, [0]], 0)) > 0)
            return tf.cond(wanted, run, lambda: (tf.zeros([batch, 0], tf.int32), tf.zeros([batch], tf.int32), tf.zeros([batch], tf.bool)))

    def _serving_default(self, prompt, max_new_chars, temperature, top_k, top_p, seed):
        out, _, _ = self._run(prompt, max_new_chars, temperature, top_k, top_p, seed)
        return {"text": self.decode(out), "ids": out}

    def _generate(self, prompt, max_new_chars, temperature, top_k, top_p, seed, stop):
        out, new_chars, stopped = self._run(prompt, max_new_chars, temperature, top_k, top_p, seed, stop)
        reason = tf.where(stopped, FINISH_REASONS[0], FINISH_REASONS[1])
        return {"text": self.decode(out), "ids": out, "new_chars": new_chars, "finish_reason": reason}

    def _step(self, token_id, state):
        check = tf.debugging.Assert(tf.reduce_all(tf.logical_and(token_id >= 0, token_id < self.vocab_size)),
                                    [f"token_id must be in [0, {self.vocab_size}), got", token_id], summarize=8)
        with tf.control_dependencies([check]):
            logits, new_state = self._held.model.next(token_id, state)
        return {"logits": logits, "state": new_state}

    def _vocabulary(self, ids):
        check = tf.debugging.Assert(tf.reduce_all(tf.logical_and(ids >= 0, ids < self.vocab_size)),
                                    [f"ids must be in [0, {self.vocab_size}), got", ids], summarize=8)
        with tf.control_dependencies([check]):
            ids = tf.identity(ids)
        return {"chars": tf.gather(self.token_text, ids), "token_bytes": tf.gather(self.token_bytes, ids)}


def cpu_model(model):
    """A fresh CharRNN with ``model``'s weights, its variables made on the CPU.

    The export graph only calls the cells one step at a time (never the cuDNN sequence kernel),
    and a rebuilt model carries no training-time state (its kernel, dropout layers in use).
    """
    from tfcharrnn.checkpoint import assign_weights, model_arrays
    from tfcharrnn.model import CharRNN

    weights = model_arrays(model)
    with tf.device("/CPU:0"):
        fresh = CharRNN(model.config)
        assign_weights(fresh, weights, "the model")
    return fresh


def build_serving_module(model, vocab, max_new_chars: int) -> ServingModule:
    """The tf.Module that tfcharrnn.export saves (signatures: module.signatures())."""
    if not isinstance(max_new_chars, int) or max_new_chars < 1:
        raise UserError(f"--max_new_chars must be a positive integer, got {max_new_chars!r}")
    return ServingModule(cpu_model(model), vocab, max_new_chars)
