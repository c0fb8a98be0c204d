"""Per-character loss of a trained model on any text: nats/char, bits/char, perplexity.

    from tfcharrnn.evaluate import evaluate_text, evaluate_file, load_scorer
    result = evaluate_file("cv/", "held_out.txt")                 # a checkpoint or run directory
    result = evaluate_file("saved_models/shakespeare", "a.txt")   # a SavedModel (highest version)
    result["nats_per_char"], result["bits_per_char"], result["perplexity"], result["unknown_chars"]
    scorer = load_scorer("cv/"); evaluate_text(scorer, "some text")   # reuse one loaded model

    python scripts/evaluate.py cv/ held_out.txt [--json] [--encoding latin-1] [--rows 1]

What is measured: the model reads the text from its first character to its last, the recurrent
state carried the whole way (starting from zeros), and every character after the first is scored
by the probability the model gave it having read everything before it:
``loss = -1/(n-1) * sum_{i>=1} ln p(c_i | c_0 .. c_{i-1})`` nats per character; bits per character
= loss / ln 2; perplexity = exp(loss). (The first character has no prediction: the model needs an
input to predict from.) In bytes mode (a model trained with --byte_mode) the units are bytes of
the file, read raw.

``rows`` (default 1): with rows = 1 the number above is computed exactly, as one stream. For a
long file on a slow machine, ``rows = R`` cuts the prediction positions into R contiguous
segments read side by side as one batch of R (R times fewer sequential steps); each segment
starts from a zero state, so the first few characters of each segment are predicted with less
context and the loss is slightly higher (by about R x (a few nats) / n: negligible once each
segment is thousands of characters long). The result records ``rows``.

Unknown characters (not in the model's vocabulary) cannot be fed to the model or scored. They
are counted and listed, then skipped: removed from the stream, so the model reads the text as if
they were not there (its state runs on across the gap) and they are not scored; ``scored`` counts
only known characters. ``unknown_count`` / ``unknown_chars`` report what was skipped.

The text is laid out and read chunk by chunk by tfcharrnn.scoring.score_ids, the one loop the
trainer's validation and the LiteRT model's loss use too. A checkpoint scores a chunk with
``chunk_loss`` (``CharRNN.__call__`` over ``chunk_length`` characters: the fused CPU kernel when
no GPU is visible, the Keras/cuDNN layers otherwise); a SavedModel written by tfcharrnn.export
through its ``step`` signature (token_id int32[B], state float32[B, S, H] -> logits float32[B, V],
state), one character at a time inside one tf.while_loop per chunk, and its vocabulary comes from
its ``vocabulary`` signature (ids -> chars, token_bytes).

The trainer scores its validation text the same way, with its own compiled step:

    score_ids(eval_step, model.initial_state, ids, rows=64, chunk=seq_length).mean
    # eval_step: a tf.function of (x, y, w, state) that returns chunk_loss(model, x, y, w, state)
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field

import numpy as np

from tfcharrnn.errors import UserError
from tfcharrnn.files import read_text_file
from tfcharrnn.scoring import score_ids
from tfcharrnn.vocab import Vocabulary, describe_chars

DEFAULT_CHUNK = 2048


# ---------------------------------------------------------------------------------------------
# models


@dataclass
class Scorer:
    """A loaded model that scores (x, y, weight) chunks while carrying the state."""

    kind: str  # "checkpoint" | "saved_model"
    path: str
    vocab: Vocabulary
    num_states: int
    hidden_size: int
    description: str
    _score: object = field(repr=False, default=None)
    _keep: object = field(repr=False, default=None)  # what owns the variables (a loaded SavedModel)

    def initial_state(self, rows: int):
        import tensorflow as tf

        return tf.zeros([rows, self.num_states, self.hidden_size], tf.float32)

    def score(self, x, y, w, state):
        """x, y (R, T) int32, w (R, T) float32 -> (sum of w * -ln p(y | ...), new state)."""
        total, state = self._score(x, y, w, state)
        return float(total), state


def _saved_model_dir(path: str) -> str | None:
    """A SavedModel directory, or a model base directory's highest numbered version; else None."""
    if not os.path.isdir(path):
        return None
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    versions = sorted((int(e) for e in os.listdir(path) if e.isdigit() and os.path.isfile(os.path.join(path, e, "saved_model.pb"))))
    return os.path.join(path, str(versions[-1])) if versions else None


def _loss_sum(labels, logits, w):
    import tensorflow as tf

    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    return tf.reduce_sum(tf.cast(ce, tf.float64) * tf.cast(w, tf.float64))


def chunk_loss(model, x, y, w, state, recurrence=None):
    """A Keras CharRNN's score of one chunk, the TensorFlow implementation every Keras caller
    shares (call it inside a tf.function): x, y (R, T) int32, w (R, T) float32, state (R, S, H)
    -> (sum of w x -ln p(y | ...) as float64, new state). recurrence: None = the model's own."""
    logits, new_state = model(x, state, training=False, recurrence=recurrence)  # (R, T, V), (R, S, H)
    return _loss_sum(y, logits, w), new_state


def _checkpoint_scorer(path: str, fused: bool = True) -> Scorer:
    import tensorflow as tf

    from tfcharrnn.checkpoint import load_checkpoint
    from tfcharrnn.recurrence import Recurrence

    ckpt = load_checkpoint(path, with_optimizer=False)
    model, cfg = ckpt.model, ckpt.config
    recurrence = Recurrence.fused() if fused else None  # fused runs only when no GPU is visible; same function as the Keras layers
    spec = [tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None, None], tf.float32),
            tf.TensorSpec([None, cfg.num_states, cfg.hidden_size], tf.float32)]

    @tf.function(input_signature=spec)
    def score(x, y, w, state):
        return chunk_loss(model, x, y, w, state, recurrence)

    step = ckpt.train_state.get("step")
    desc = f"checkpoint {ckpt.path} ({cfg.num_layers}x{cfg.hidden_size} {cfg.model}, vocab {cfg.vocab_size}" + (f", step {step})" if step is not None else ")")
    return Scorer("checkpoint", ckpt.path, ckpt.vocab, cfg.num_states, cfg.hidden_size, desc, score)


def _saved_model_vocab(loaded, sm_dir: str, vocab_size: int) -> Vocabulary:
    import tensorflow as tf

    out = loaded.signatures["vocabulary"](ids=tf.range(vocab_size, dtype=tf.int32))
    chars = [c.decode("utf-8", "surrogatepass") for c in out["chars"].numpy()]
    token_bytes = list(out["token_bytes"].numpy())
    mode = None
    meta_path = os.path.join(sm_dir, "assets.extra", "export.json")
    if os.path.isfile(meta_path):
        try:
            with open(meta_path, encoding="utf-8") as f:
                mode = json.load(f).get("vocab_mode")
        except (OSError, ValueError):
            mode = None
    if mode not in ("chars", "bytes"):  # a bytes-mode token's text is chr(byte); its bytes are the byte itself
        mode = "bytes" if any(c.encode("utf-8", "surrogatepass") != b for c, b in zip(chars, token_bytes)) else "chars"
    return Vocabulary(tuple(chars), mode=mode)


def _saved_model_scorer(sm_dir: str) -> Scorer:
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(sm_dir)
    except Exception as e:  # noqa: BLE001 - corrupt or foreign files
        raise UserError(f"cannot load the SavedModel {sm_dir!r} ({type(e).__name__}); export it again with scripts/export.py") from None
    missing = [s for s in ("step", "vocabulary") if s not in loaded.signatures]
    if missing:
        raise UserError(f"SavedModel {sm_dir!r} has no {' or '.join(missing)} signature (it has {', '.join(loaded.signatures) or 'none'}); "
                        "evaluate a model exported by tfcharrnn (scripts/export.py) or a checkpoint")
    step = loaded.signatures["step"]
    state_spec = step.structured_input_signature[1]["state"]
    _, num_states, hidden = state_spec.shape
    vocab_size = int(step.structured_outputs["logits"].shape[-1])
    vocab = _saved_model_vocab(loaded, sm_dir, vocab_size)
    spec = [tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None, None], tf.float32),
            tf.TensorSpec([None, num_states, hidden], tf.float32)]

    @tf.function(input_signature=spec)
    def score(x, y, w, state):
        xs, ys, ws = tf.transpose(x), tf.transpose(y), tf.transpose(w)  # time-major (T, R)

        def body(t, total, state):
            out = step(token_id=xs[t], state=state)
            return t + 1, total + _loss_sum(ys[t], out["logits"], ws[t]), out["state"]

        _, total, state = tf.while_loop(lambda t, *_: t < tf.shape(xs)[0], body, (tf.constant(0), tf.constant(0.0, tf.float64), state))
        return total, state

    desc = f"SavedModel {sm_dir} (state {num_states}x{hidden}, vocab {vocab_size})"
    return Scorer("saved_model", sm_dir, vocab, int(num_states), int(hidden), desc, score, _keep=loaded)


def load_scorer(path: str, fused: bool = True) -> Scorer:
    """A checkpoint / run directory, or a SavedModel (or its base directory: highest version)."""
    if path is None or not os.path.exists(path):
        raise UserError(f"model {path!r} does not exist; pass a checkpoint, a run directory (cv/) or a SavedModel directory")
    sm_dir = _saved_model_dir(path)
    if sm_dir is not None:
        return _saved_model_scorer(sm_dir)
    return _checkpoint_scorer(path, fused=fused)


# ---------------------------------------------------------------------------------------------
# text


def read_eval_file(path: str, encoding: str = "utf-8", byte_mode: bool = False) -> str:
    """The file's text (bytes mode: the latin-1 view of its bytes). UserErrors name the fix."""
    if not os.path.exists(path):
        raise UserError(f"text file {path!r} does not exist; check the path")
    if os.path.isdir(path):
        raise UserError(f"{path!r} is a directory; pass one text file")
    if os.path.getsize(path) == 0:
        raise UserError(f"{path!r} is empty; pass a file with text in it")
    return read_text_file(path, encoding, byte_mode, encoding_hint="pass its --encoding (e.g. --encoding latin-1)")


def encode_known(vocab: Vocabulary, text: str):
    """(ids of the known characters in order, number of unknown characters, distinct unknown)."""
    unknown = vocab.unknown(text)
    if not unknown:
        return vocab.encode(text), 0, []
    bad = set(unknown)
    known = "".join(c for c in text if c not in bad)
    return (vocab.encode(known) if known else np.zeros(0, vocab.dtype)), len(text) - len(known), unknown


def evaluate_text(model, text: str, *, rows: int = 1, chunk_length: int = DEFAULT_CHUNK, fused: bool = True, log=None) -> dict:
    """Loss of ``model`` (a Scorer, or a path for load_scorer) on ``text``; see the module docstring.

    Returns {"model", "kind", "unit", "chars", "unknown_count", "unknown_chars", "scored", "rows",
    "chunk_length", "nats_per_char", "bits_per_char", "perplexity", "seconds", "chars_per_second"}.
    """
    if not isinstance(rows, int) or rows < 1:
        raise UserError(f"--rows must be a positive integer, got {rows!r}")
    if not isinstance(chunk_length, int) or chunk_length < 1:
        raise UserError(f"--chunk_length must be a positive integer, got {chunk_length!r}")
    scorer = model if isinstance(model, Scorer) else load_scorer(model, fused=fused)
    if not text:
        raise UserError("the text is empty; pass a file with text in it")
    ids, unknown_count, unknown = encode_known(scorer.vocab, text)
    unit = "byte" if scorer.vocab.mode == "bytes" else "char"
    if len(ids) < 2:
        raise UserError(f"the text has {len(ids)} {unit}(s) the model knows ({unknown_count} unknown: {describe_chars(unknown)}); "
                        f"at least 2 are needed to score one prediction")

    def progress(columns, total):
        if log and (columns // chunk_length) % 50 == 0 and columns < total:
            log(f"  {columns * min(rows, len(ids) - 1):,} / {len(ids) - 1:,} {unit}s scored")

    t0 = time.perf_counter()
    score = score_ids(scorer.score, scorer.initial_state, ids, rows, chunk_length, progress)
    seconds = time.perf_counter() - t0
    scored = score.scored
    nats = score.mean
    return {
        "model": scorer.path,
        "kind": scorer.kind,
        "unit": unit,
        "chars": len(text),
        "unknown_count": unknown_count,
        "unknown_chars": unknown,
        "scored": scored,
        "rows": score.rows,
        "chunk_length": chunk_length,
        "nats_per_char": nats,
        "bits_per_char": nats / math.log(2),
        "perplexity": math.exp(min(nats, 700.0)),
        "seconds": seconds,
        "chars_per_second": scored / seconds if seconds > 0 else float("inf"),
    }


def evaluate_file(model, path: str, *, encoding: str = "utf-8", **kwargs) -> dict:
    """evaluate_text on a file's text (read raw for a bytes-mode model); adds "file"."""
    scorer = model if isinstance(model, Scorer) else load_scorer(model, fused=kwargs.pop("fused", True))
    text = read_eval_file(path, encoding=encoding, byte_mode=scorer.vocab.mode == "bytes")
    result = evaluate_text(scorer, text, **kwargs)
    result["file"] = path
    result["description"] = scorer.description
    return result


# ---------------------------------------------------------------------------------------------
# a result as a table (scripts/evaluate.py prints it; the command line is tfcharrnn.cli.evaluate)


def format_table(result: dict) -> str:
    unit = result["unit"]
    rows = [
        ("model", result.get("description", result["model"])),
        ("file", f"{result.get('file', '-')}: {result['chars']:,} {unit}s"),
    ]
    if result["unknown_count"]:
        rows.append(("unknown", f"{result['unknown_count']:,} {unit}(s) not in the vocabulary, skipped (state carried across, "
                                f"not scored): {describe_chars(result['unknown_chars'])}"))
    else:
        rows.append(("unknown", "none"))
    how = "one stream, state carried from the first to the last" if result["rows"] == 1 else \
        f"{result['rows']} contiguous rows, state carried along each"
    rows += [
        ("scored", f"{result['scored']:,} {unit}s ({how})"),
        (f"nats/{unit}", f"{result['nats_per_char']:.4f}"),
        (f"bits/{unit}", f"{result['bits_per_char']:.4f}"),
        ("perplexity", f"{result['perplexity']:.3f}"),
        ("time", f"{result['seconds']:.1f} s ({result['chars_per_second']:,.0f} {unit}s/s)"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)

