"""SavedModel export for TensorFlow Serving: the whole generation loop in one request.

    from tfcharrnn.export import export_checkpoint
    info = export_checkpoint("cv/", name="shakespeare")        # -> saved_models/shakespeare/1/
    info["path"], info["version"], info["tflite"]

    python scripts/export.py cv/ --name shakespeare [--version N] [--overwrite] [--no_tflite]

Layout written (TF Serving's model base path is ``saved_models/NAME``; it serves the highest
numbered version and ignores every other entry):

    saved_models/NAME/VERSION/
        saved_model.pb, fingerprint.pb, variables/     the SavedModel (tag "serve")
        assets.extra/vocab.json                        the vocabulary (tfcharrnn's JSON)
        assets.extra/export.json                       what was exported, from where, with what caps
        assets.extra/NAME.tflite                       the LiteRT model (unless --no_tflite)
        assets.extra/tf_serving_warmup_requests        warm-up requests TF Serving replays at load
                                                       (written when tensorflow-serving-api is installed)

``assets.extra/`` is the SavedModel format's place for files that travel with a model but are
not loaded by its graph; TF Serving reads only ``tf_serving_warmup_requests`` from it. A version
directory is written under a hidden temporary name beside its final place and renamed when
complete, so a TF Serving instance watching ``saved_models/NAME`` never sees half a version.

Signatures (method "tensorflow/serving/predict", every input and output batched, B = None):

    serving_default   prompt string[B], max_new_chars int32[B], temperature float32[B],
                      top_k int32[B], top_p float32[B], seed int64[B]
                   -> text string[B] (the continuation, UTF-8), ids int32[B, N] (-1 padded,
                      N = the batch's largest max_new_chars)
    step              token_id int32[B], state float32[B, S, H] -> logits float32[B, V],
                      state float32[B, S, H]   (start from zeros; S, H in the signature)
    vocabulary        ids int32[B] -> chars string[B] (each token as text), token_bytes string[B]
                      (the bytes it stands for; REST base64-encodes outputs named *_bytes)

The generation signature runs tfcharrnn.sampling.generate_ids, the loop the in-package sampler
runs, so one seed gives the same text in both (row i of a Generator.sample_text batch uses seed
``seed + i``). Request values are checked in the graph and a bad one fails the request with
InvalidArgument (TF Serving answers 400 / INVALID_ARGUMENT; the server keeps running):
max_new_chars outside [0, max_new_chars cap], a negative or non-finite temperature, a negative
top_k, top_p outside (0, 1], characters outside the vocabulary (named in the message), a prompt
that is not UTF-8, inputs of different batch sizes. temperature 0 means greedy (argmax),
top_k 0 and top_p 1 switch those filters off, an empty prompt starts from a seeded random
character (returned as the first character of the text).

Only stock TensorFlow ops are used: no py_function, no custom ops, and no cuDNN kernels (the
graph calls the recurrent cells one step at a time; `forbidden_ops` checks every export).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time

import numpy as np

from tfcharrnn.errors import UserError

MAX_NEW_CHARS = 10_000  # per-row cap of max_new_chars; --max_new_chars changes it at export time
VERSION_DIR = re.compile(r"^[0-9]+$")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
FORBIDDEN_OP = re.compile(r"^(PyFunc|PyFuncStateless|EagerPyFunc|NumpyFunction|Cudnn.*|Flex.*)$")
SIGNATURES = ("serving_default", "step", "vocabulary")
EXTRA = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"


# ---------------------------------------------------------------------------------------------
# the module that is saved


def _token_bytes(vocab) -> list[bytes]:
    """The bytes each token stands for: UTF-8 of the character, or the byte itself (bytes mode)."""
    if vocab.mode == "bytes":
        return [c.encode("latin-1") for c in vocab.chars]
    try:
        return [c.encode("utf-8") for c in vocab.chars]
    except UnicodeEncodeError:
        raise UserError("the vocabulary holds a character that has no UTF-8 form (a lone surrogate); "
                        "retrain on text decoded as UTF-8, or use --byte_mode") from None


def _make_serving_module(model, vocab, max_new_chars: int):
    import tensorflow as tf

    from tfcharrnn.sampling import generate_ids

    cfg = model.config
    vocab_size = cfg.vocab_size
    if vocab.size != vocab_size:
        raise UserError(f"the vocabulary has {vocab.size} characters but the model {vocab_size}; they come from different checkpoints")
    codes = np.array([ord(c) for c in vocab.chars], dtype=np.int64)
    order = np.argsort(codes, kind="stable")
    token_bytes = _token_bytes(vocab)
    byte_mode = vocab.mode == "bytes"
    cap = int(max_new_chars)
    state_spec = tf.TensorSpec([None, cfg.num_states, cfg.hidden_size], tf.float32, name="state")

    class CharRNNServing(tf.Module):
        """What TF Serving loads: the model's variables and three tf.functions.

        The Keras model is deliberately not an attribute (it is reached through the closure):
        tracking it would save each Keras variable twice (the Keras wrapper's export copy and its
        tf.Variable), the functions would read one copy and the TF1 loader that TF Serving and
        `saved_model_cli run` use would restore the other ("Could not find variable ...").
        Like keras.export.ExportArchive, the module tracks the tf.Variables its functions use.
        """

        def __init__(self):
            super().__init__(name="tfcharrnn_serving")
            self.sorted_codes = tf.constant(codes[order])  # (V,) int64, ascending
            self.sorted_ids = tf.constant(order.astype(np.int32))  # (V,) id of each sorted code
            self.token_bytes = tf.constant(token_bytes, dtype=tf.string)  # (V,)
            self.token_text = tf.constant([c.encode("utf-8", "surrogatepass") for c in vocab.chars], dtype=tf.string)
            used, seen = [], set()
            for fn in self.signatures().values():
                for v in fn.variables:
                    if id(v) not in seen:
                        seen.add(id(v))
                        used.append(v)
            self.model_variables = used  # the tf.Variables the traced functions capture

        def keras_model(self):
            return model

        # -- strings <-> ids ---------------------------------------------------------------
        def encode(self, prompt):
            """string[B] -> (checks, ids (B, P>=1) right-padded with 0, lengths (B,))."""
            if byte_mode:  # every byte is a token: latin-1 maps byte b to code point b, and never fails
                codes_r = tf.cast(tf.strings.unicode_decode(prompt, "ISO-8859-1"), tf.int64)
                checks = []
            else:
                valid = tf.equal(tf.strings.unicode_transcode(prompt, "UTF-8", "UTF-8", errors="replace",
                                                              replacement_char=0xFFFD), prompt)
                checks = [tf.debugging.Assert(tf.reduce_all(valid), ["prompt is not valid UTF-8 text; send UTF-8 strings"])]
                codes_r = tf.cast(tf.strings.unicode_decode(prompt, "UTF-8", errors="replace", replacement_char=0xFFFD), tf.int64)
            flat = codes_r.flat_values
            pos = tf.minimum(tf.searchsorted(self.sorted_codes, flat, side="left", out_type=tf.int32), vocab_size - 1)
            known = tf.equal(tf.gather(self.sorted_codes, pos), flat)
            unknown, _ = tf.unique(tf.boolean_mask(flat, tf.logical_not(known)))
            if byte_mode:
                shown = tf.strings.as_string(unknown)
            else:
                shown = tf.strings.unicode_encode(tf.cast(unknown[:, None], tf.int32), "UTF-8", errors="replace")
            checks.append(tf.debugging.Assert(
                tf.reduce_all(known),
                ["prompt has characters the model never saw:", shown, "(code points" if not byte_mode else "(byte values", unknown,
                 "); remove them or export a model trained on text that has them"],
                summarize=20))
            ids_r = codes_r.with_flat_values(tf.where(known, tf.gather(self.sorted_ids, pos), 0))
            lengths = tf.cast(ids_r.row_lengths(), tf.int32)
            batch = tf.shape(prompt, out_type=tf.int64)[0]
            width = tf.maximum(tf.reduce_max(tf.concat([ids_r.row_lengths(), [0]], 0)), 1)
            ids = ids_r.to_tensor(default_value=0, shape=tf.stack([batch, width]))
            return checks, ids, lengths

        def decode(self, ids):
            """ids (B, N) int32, -1 padded -> string[B] of UTF-8 text."""
            kept = tf.ragged.boolean_mask(ids, ids >= 0)
            text = tf.strings.reduce_join(tf.gather(self.token_bytes, kept), axis=1)
            if byte_mode:  # generated bytes may cut a character: invalid sequences become U+FFFD
                text = tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD)
            return text

        # -- signatures --------------------------------------------------------------------
        @tf.function(input_signature=[
            tf.TensorSpec([None], tf.string, name="prompt"),
            tf.TensorSpec([None], tf.int32, name="max_new_chars"),
            tf.TensorSpec([None], tf.float32, name="temperature"),
            tf.TensorSpec([None], tf.int32, name="top_k"),
            tf.TensorSpec([None], tf.float32, name="top_p"),
            tf.TensorSpec([None], tf.int64, name="seed"),
        ])
        def generate(self, prompt, max_new_chars, temperature, top_k, top_p, seed):
            batch = tf.shape(prompt)[0]
            same = tf.reduce_all(tf.equal(
                tf.stack([tf.size(x) for x in (max_new_chars, temperature, top_k, top_p, seed)]), batch))
            checks = [
                tf.debugging.Assert(same, ["every input needs the same batch size; prompt has", batch, "rows, "
                                           "max_new_chars/temperature/top_k/top_p/seed have",
                                           tf.stack([tf.size(x) for x in (max_new_chars, temperature, top_k, top_p, seed)])]),
                tf.debugging.Assert(tf.reduce_all(tf.logical_and(max_new_chars >= 0, max_new_chars <= cap)),
                                    [f"max_new_chars must be between 0 and {cap}, got", max_new_chars], summarize=8),
                tf.debugging.Assert(tf.reduce_all(tf.logical_and(temperature >= 0.0, tf.math.is_finite(temperature))),
                                    ["temperature must be a finite number >= 0 (0 = greedy), got", temperature], summarize=8),
                tf.debugging.Assert(tf.reduce_all(top_k >= 0), ["top_k must be >= 0 (0 = off), got", top_k], summarize=8),
                tf.debugging.Assert(tf.reduce_all(tf.logical_and(top_p > 0.0, top_p <= 1.0)),
                                    ["top_p must be in (0, 1] (1 = off), got", top_p], summarize=8),
            ]
            with tf.control_dependencies(checks):
                prompt = tf.identity(prompt)
            encode_checks, ids, lengths = self.encode(prompt)

            def run():
                out, _ = generate_ids(model.stepper(), model.initial_state(batch), ids, lengths, max_new_chars,
                                      seed, temperature, top_k, top_p, vocab_size)
                return out

            with tf.control_dependencies(encode_checks):
                # generate_ids cannot stack an empty TensorArray of unknown batch (0 rows, or 0 chars for
                # every row): answer those requests without running it.
                wanted = tf.logical_and(batch > 0, tf.reduce_max(tf.concat([max_new_chars, [0]], 0)) > 0)
                out = tf.cond(wanted, run, lambda: tf.zeros([batch, 0], tf.int32))
            return {"text": self.decode(out), "ids": out}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.int32, name="token_id"), state_spec])
        def step(self, token_id, state):
            check = tf.debugging.Assert(tf.reduce_all(tf.logical_and(token_id >= 0, token_id < vocab_size)),
                                        [f"token_id must be in [0, {vocab_size}), got", token_id], summarize=8)
            with tf.control_dependencies([check]):
                logits, new_state = model.next(token_id, state)
            return {"logits": logits, "state": new_state}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.int32, name="ids")])
        def vocabulary(self, ids):
            check = tf.debugging.Assert(tf.reduce_all(tf.logical_and(ids >= 0, ids < vocab_size)),
                                        [f"ids must be in [0, {vocab_size}), got", ids], summarize=8)
            with tf.control_dependencies([check]):
                ids = tf.identity(ids)
            return {"chars": tf.gather(self.token_text, ids), "token_bytes": tf.gather(self.token_bytes, ids)}

        def signatures(self) -> dict:
            return {
                "serving_default": self.generate.get_concrete_function(),
                "step": self.step.get_concrete_function(),
                "vocabulary": self.vocabulary.get_concrete_function(),
            }

    return CharRNNServing()


def cpu_model(model):
    """A fresh CharRNN with ``model``'s weights, its variables made on the CPU.

    The export graph only calls the cells one step at a time (never the cuDNN sequence kernel),
    and a rebuilt model carries no training-time state (fused kernels, dropout layers in use).
    """
    import tensorflow as tf

    from tfcharrnn.checkpoint import assign_weights, model_arrays
    from tfcharrnn.model import CharRNN

    weights = model_arrays(model)
    with tf.device("/CPU:0"):
        fresh = CharRNN(model.config)
        assign_weights(fresh, weights, "the model")
    return fresh


def build_serving_module(model, vocab, max_new_chars: int = MAX_NEW_CHARS):
    """The tf.Module that export_saved_model saves (signatures: module.signatures())."""
    if not isinstance(max_new_chars, int) or max_new_chars < 1:
        raise UserError(f"--max_new_chars must be a positive integer, got {max_new_chars!r}")
    return _make_serving_module(cpu_model(model), vocab, max_new_chars)


# ---------------------------------------------------------------------------------------------
# graph inspection


def graph_ops(saved_model_dir: str) -> set:
    """Every op type in a SavedModel's graph and its function library."""
    from tensorflow.core.protobuf import saved_model_pb2

    sm = saved_model_pb2.SavedModel()
    with open(os.path.join(saved_model_dir, "saved_model.pb"), "rb") as f:
        sm.ParseFromString(f.read())
    ops = set()
    for mg in sm.meta_graphs:
        ops.update(n.op for n in mg.graph_def.node)
        for fn in mg.graph_def.library.function:
            ops.update(n.op for n in fn.node_def)
    return ops


def forbidden_ops(saved_model_dir: str) -> list[str]:
    """Ops stock TF Serving on a CPU cannot run: PyFunc / EagerPyFunc / Cudnn* / Flex*."""
    return sorted(op for op in graph_ops(saved_model_dir) if FORBIDDEN_OP.match(op))


# ---------------------------------------------------------------------------------------------
# versions and atomic writing


def existing_versions(model_dir: str) -> list[int]:
    if not os.path.isdir(model_dir):
        return []
    return sorted(int(e) for e in os.listdir(model_dir) if VERSION_DIR.match(e) and os.path.isdir(os.path.join(model_dir, e)))


def next_version(model_dir: str) -> int:
    """1 for a new model, else one more than the highest version directory."""
    versions = existing_versions(model_dir)
    return versions[-1] + 1 if versions else 1


def _check_name(name: str) -> None:
    if not name or not NAME_RE.match(name):
        raise UserError(f"--name {name!r} is not a usable model name; use letters, digits, '_', '-' or '.', "
                        "starting with a letter or digit (it becomes the directory and the URL /v1/models/NAME)")


def _warmup_records(vocab) -> list[bytes] | None:
    """Serialized PredictionLog records for assets.extra/tf_serving_warmup_requests, or None."""
    try:
        import tensorflow as tf
        from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2
    except ImportError:
        return None
    req = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(signature_name="serving_default"))
    for key, value, dtype in (("prompt", [vocab.chars[0].encode("latin-1") if vocab.mode == "bytes" else vocab.chars[0].encode("utf-8")], tf.string),
                              ("max_new_chars", [4], tf.int32), ("temperature", [1.0], tf.float32),
                              ("top_k", [0], tf.int32), ("top_p", [1.0], tf.float32), ("seed", [0], tf.int64)):
        req.inputs[key].CopyFrom(tf.make_tensor_proto(value, dtype=dtype))
    log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=req))
    return [log.SerializeToString()]


def _write_tfrecords(path: str, records: list[bytes]) -> None:
    import tensorflow as tf

    with tf.io.TFRecordWriter(path) as w:
        for r in records:
            w.write(r)


def export_saved_model(model, vocab, name: str, *, base_dir: str = "saved_models", version: int | None = None,
                       overwrite: bool = False, max_new_chars: int = MAX_NEW_CHARS, tflite: bool = True,
                       quantize: str | None = None, warmup: bool = True, source: str | None = None, log=None) -> dict:
    """Write ``base_dir/name/version/`` (see the module docstring); returns a summary dict.

    version None = one more than the highest existing version. An existing version directory is
    replaced only with overwrite=True (atomically: the old one is swapped out, then removed).
    Returns {"path", "version", "tflite" (path or None), "tflite_info", "signatures", "warmup"}.
    """
    import tensorflow as tf

    from tfcharrnn.checkpoint import _fsync_dir, atomic_write_bytes

    log = log or (lambda *_: None)
    _check_name(name)
    model_dir = os.path.join(base_dir, name)
    if version is None:
        version = next_version(model_dir)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise UserError(f"--version must be a positive integer, got {version!r}")
    final = os.path.join(model_dir, str(version))
    if os.path.exists(final) and not overwrite:
        raise UserError(f"{final!r} already exists; pass --overwrite to replace it, or leave out --version "
                        f"to write version {next_version(model_dir)}")
    os.makedirs(model_dir, exist_ok=True)

    module = build_serving_module(model, vocab, max_new_chars)
    tmp = tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=model_dir)  # TF Serving ignores non-numeric names
    try:
        t0 = time.perf_counter()
        tf.saved_model.save(module, tmp, signatures=module.signatures())
        bad = forbidden_ops(tmp)
        if bad:  # a bug in tfcharrnn, not the user's: stop before anything is published
            raise RuntimeError(f"the exported graph holds ops TF Serving on a CPU cannot run: {bad}")
        log(f"SavedModel traced and written in {time.perf_counter() - t0:.1f}s")
        extra = os.path.join(tmp, EXTRA)
        os.makedirs(extra, exist_ok=True)
        atomic_write_bytes(os.path.join(extra, "vocab.json"), vocab.to_json().encode("utf-8"))
        warmup_path = None
        if warmup:
            records = _warmup_records(vocab)
            if records:
                _write_tfrecords(os.path.join(extra, WARMUP_FILE), records)
                warmup_path = os.path.join(final, EXTRA, WARMUP_FILE)
        tflite_path, tflite_info = None, None
        if tflite:
            tflite_info = _export_tflite(module.keras_model(), vocab, os.path.join(extra, f"{name}.tflite"), quantize, log)
            if tflite_info is not None:
                tflite_path = os.path.join(final, EXTRA, f"{name}.tflite")
                tflite_info = {k: (v.replace(tmp, final) if isinstance(v, str) else v) for k, v in tflite_info.items()}
        meta = {
            "format": "tfcharrnn-saved-model",
            "name": name,
            "version": version,
            "source": source,
            "config": model.config.to_dict(),
            "vocab_mode": vocab.mode,
            "vocab_size": vocab.size,
            "max_new_chars": max_new_chars,
            "signatures": list(SIGNATURES),
            "tensorflow": tf.__version__,
            "tflite": os.path.basename(tflite_path) if tflite_path else None,
        }
        atomic_write_bytes(os.path.join(extra, "export.json"), json.dumps(meta, indent=1, ensure_ascii=False).encode("utf-8"))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp made it 0700: a server running as another user must read it
        _fsync_dir(tmp)
        if os.path.exists(final):
            old = tempfile.mkdtemp(prefix=f".old-{version}-", dir=model_dir)
            os.rmdir(old)
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            try:
                os.replace(tmp, final)
            except OSError:
                if os.path.exists(final):  # another export took this version number meanwhile
                    raise UserError(f"{final!r} appeared while exporting (another export running?); run again to write "
                                    f"version {next_version(model_dir)}") from None
                raise
        _fsync_dir(model_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"path": final, "version": version, "tflite": tflite_path, "tflite_info": tflite_info,
            "signatures": list(SIGNATURES), "warmup": warmup_path, "max_new_chars": max_new_chars}


def _export_tflite(model, vocab, path, quantize, log):
    """The LiteRT model beside the SavedModel, through tfcharrnn.tflite_export when it exists."""
    try:
        from tfcharrnn.tflite_export import export_tflite
    except ImportError:
        log("tfcharrnn.tflite_export is not available; no .tflite written")
        return None
    info = export_tflite(model, vocab, path, quantize=quantize)
    return info if isinstance(info, dict) else {"result": info}


def export_checkpoint(checkpoint: str, name: str, **kwargs) -> dict:
    """Load a checkpoint (or a run directory's best/latest) and export_saved_model it."""
    from tfcharrnn.checkpoint import load_checkpoint

    ckpt = load_checkpoint(checkpoint, with_optimizer=False)
    kwargs.setdefault("source", ckpt.path)
    return export_saved_model(ckpt.model, ckpt.vocab, name, **kwargs)
