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
        assets.extra/web/                              a page that runs the .tflite in a browser (--web)
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
    generate          serving_default's inputs and stop string[B] (one stop string per row,
                      "" = none; at most 64 characters, bytes for a byte-mode model)
                   -> text string[B] (ending before the stop string), ids int32[B, N] (the
                      text's ids, -1 padded, N = the batch's longest text), new_chars int32[B]
                      (characters generated, the stop string's included), finish_reason
                      string[B] ("stop" or "length")
    step              token_id int32[B], state float32[B, S, H] -> logits float32[B, V],
                      state float32[B, S, H]   (start from zeros; S, H in the signature)
    vocabulary        ids int32[B] -> chars string[B] (each token as text), token_bytes string[B]
                      (the bytes it stands for; REST base64-encodes outputs named *_bytes)

The generation signatures run tfcharrnn.sampling.generate_ids, the loop the in-package sampler
runs, so one seed gives the same text in both (row i of a Generator.sample_text batch uses seed
``seed + i``); `generate` ends the loop as soon as every row has stopped (stop strings: the rule
in tfcharrnn.sample_settings). serving_default keeps the inputs it always had, so existing
clients need no change. Request values are checked in the graph and a bad one fails the request with
InvalidArgument (TF Serving answers 400 / INVALID_ARGUMENT; the server keeps running):
max_new_chars outside [0, max_new_chars cap], a negative or non-finite temperature, a negative
top_k, top_p outside (0, 1], characters outside the vocabulary (named in the message), a prompt
that is not UTF-8, inputs of different batch sizes, a stop string that is too long, not UTF-8 or
has characters outside the vocabulary. temperature 0 means greedy (argmax),
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
import time

from tfcharrnn.errors import UserError

MAX_NEW_CHARS = 10_000  # per-row cap of max_new_chars; --max_new_chars changes it at export time
VERSION_DIR = re.compile(r"^[0-9]+$")
FORBIDDEN_OP = re.compile(r"^(PyFunc|PyFuncStateless|EagerPyFunc|NumpyFunction|Cudnn.*|Flex.*)$")
SIGNATURES = ("serving_default", "generate", "step", "vocabulary")
EXTRA = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"


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


def _warmup_records(vocab) -> list[bytes] | None:
    """Serialized PredictionLog records for assets.extra/tf_serving_warmup_requests (one request per
    generation signature), or None."""
    try:
        import tensorflow as tf
        from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2
    except ImportError:
        return None
    first = vocab.chars[0].encode("latin-1" if vocab.mode == "bytes" else "utf-8")
    inputs = [("prompt", [first], tf.string), ("max_new_chars", [4], tf.int32), ("temperature", [1.0], tf.float32),
              ("top_k", [0], tf.int32), ("top_p", [1.0], tf.float32), ("seed", [0], tf.int64)]
    records = []
    for signature, extra in (("serving_default", []), ("generate", [("stop", [first], tf.string)])):
        req = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(signature_name=signature))
        for key, value, dtype in inputs + extra:
            req.inputs[key].CopyFrom(tf.make_tensor_proto(value, dtype=dtype))
        log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=req))
        records.append(log.SerializeToString())
    return records


def _write_tfrecords(path: str, records: list[bytes]) -> None:
    import tensorflow as tf

    with tf.io.TFRecordWriter(path) as w:
        for r in records:
            w.write(r)


def export_saved_model(model, vocab, name: str, *, base_dir: str = "saved_models", version: int | None = None,
                       overwrite: bool = False, max_new_chars: int = MAX_NEW_CHARS, tflite: bool = True,
                       quantize: str | None = None, warmup: bool = True, web: bool = False, litert_js: str | None = None,
                       source: str | None = None, log=None) -> dict:
    """Write ``base_dir/name/version/`` (see the module docstring); returns a summary dict.

    version None = one more than the highest existing version. An existing version directory is
    replaced only with overwrite=True (atomically: the old one is swapped out, then removed).
    web=True also writes assets.extra/web/, the page that runs the .tflite in a browser (tfcharrnn.web;
    litert_js: where npm installed its runtime, see tfcharrnn.web.runtime_dir).
    Returns {"path", "version", "tflite" (path or None), "tflite_info", "signatures", "warmup", "web"}.
    """
    import tensorflow as tf

    from tfcharrnn.files import atomic_write_bytes, check_name, new_temp_dir, publish_dir
    from tfcharrnn.serving import build_serving_module

    log = log or (lambda *_: None)
    check_name(name, "it becomes the directory and the URL /v1/models/NAME")
    if tflite or web:
        from tfcharrnn.tflite_export import normalise_quantize

        normalise_quantize(quantize)  # a bad --quantize fails now, not after the SavedModel is traced
    if web:
        from tfcharrnn.web import check_runtime

        check_runtime(litert_js)  # before any work: a missing runtime must not cost a whole export
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
    tmp = new_temp_dir(model_dir, f".tmp-{version}-")  # TF Serving ignores non-numeric names
    try:
        t0 = time.perf_counter()
        tf.saved_model.save(module, tmp, signatures=module.signatures())
        bad = forbidden_ops(tmp)
        if bad:  # a bug in tfcharrnn, not the user's: stop before anything is published
            raise RuntimeError(f"the exported graph holds ops TF Serving on a CPU cannot run: {bad}")
        log(f"SavedModel traced and written in {time.perf_counter() - t0:.1f}s")
        written = _write_extras(os.path.join(tmp, EXTRA), module.keras_model(), vocab, name, tflite, quantize, warmup, web, litert_js, log)
        meta = {"format": "tfcharrnn-saved-model", "name": name, "version": version, "source": source, "config": model.config.to_dict(),
                "vocab_mode": vocab.mode, "vocab_size": vocab.size, "max_new_chars": max_new_chars, "signatures": list(SIGNATURES),
                "tensorflow": tf.__version__, "tflite": os.path.basename(written["tflite"]) if written["tflite"] else None}
        atomic_write_bytes(os.path.join(tmp, EXTRA, "export.json"), json.dumps(meta, indent=1, ensure_ascii=False).encode("utf-8"))
        try:
            publish_dir(tmp, final)  # an existing version (--overwrite) is swapped out, then removed
        except OSError:
            if os.path.exists(final) and not overwrite:  # another export took this version number meanwhile
                raise UserError(f"{final!r} appeared while exporting (another export running?); run again to write "
                                f"version {next_version(model_dir)}") from None
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

    def moved(value):  # paths inside the temporary directory, as published
        return value.replace(tmp, final) if isinstance(value, str) else value

    info = {k: moved(v) for k, v in written["tflite_info"].items()} if written["tflite_info"] else None
    return {"path": final, "version": version, "tflite": moved(written["tflite"]), "tflite_info": info, "signatures": list(SIGNATURES),
            "warmup": moved(written["warmup"]), "web": moved(written["web"]), "max_new_chars": max_new_chars}


def _write_extras(extra: str, model, vocab, name, tflite, quantize, warmup, web, litert_js, log) -> dict:
    """assets.extra/ of a version being written: the vocabulary, the warm-up requests, the .tflite, the web page."""
    from tfcharrnn.files import atomic_write_bytes

    os.makedirs(extra, exist_ok=True)
    atomic_write_bytes(os.path.join(extra, "vocab.json"), vocab.to_json().encode("utf-8"))
    written = {"warmup": None, "tflite": None, "tflite_info": None, "web": None}
    records = _warmup_records(vocab) if warmup else None
    if records:
        _write_tfrecords(os.path.join(extra, WARMUP_FILE), records)
        written["warmup"] = os.path.join(extra, WARMUP_FILE)
    if tflite:
        from tfcharrnn.tflite_export import export_tflite

        written["tflite_info"] = export_tflite(model, vocab, os.path.join(extra, f"{name}.tflite"), quantize=quantize)
        written["tflite"] = written["tflite_info"]["path"]
    if web:
        from tfcharrnn.web import export_web

        written["web"] = export_web(model, vocab, os.path.join(extra, "web"), name=name, quantize=quantize,
                                   litert_js=litert_js, log=log)["path"]
    return written


def export_checkpoint(checkpoint: str, name: str, **kwargs) -> dict:
    """Load a checkpoint (or a run directory's best/latest) and export_saved_model it."""
    from tfcharrnn.checkpoint import load_checkpoint

    ckpt = load_checkpoint(checkpoint, with_optimizer=False)
    kwargs.setdefault("source", ckpt.path)
    return export_saved_model(ckpt.model, ckpt.vocab, name, **kwargs)
