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


def build_serving_module(model, vocab, max_new_chars: int = MAX_NEW_CHARS):
    """The tf.Module that export_saved_model saves (tfcharrnn.serving.ServingModule)."""
    from tfcharrnn.serving import build_serving_module as build

    return build(model, vocab, max_new_chars)


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

    from tfcharrnn.files import atomic_write_bytes, new_temp_dir, publish_dir

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
    tmp = new_temp_dir(model_dir, f".tmp-{version}-")  # TF Serving ignores non-numeric names
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


# ---------------------------------------------------------------------------------------------
# speed: serving_default against a per-character Python loop


def _one_step_baseline(model, vocab, temperature=1.0):
    """The TensorFlow text-generation tutorial's OneStep: one tf.function call per character.

    Strings in and out, the model called on a length-1 sequence with its state, the last logits
    divided by the temperature, a (zero) prediction mask added, tf.random.categorical.
    """
    import tensorflow as tf

    keys = tf.constant(list(vocab.chars))
    ids_from_chars = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(keys, tf.range(vocab.size, dtype=tf.int64)), -1)
    chars_from_ids = tf.constant(list(vocab.chars))
    mask = tf.zeros([vocab.size])

    @tf.function
    def generate_one_step(inputs, states):
        input_chars = tf.strings.unicode_split(inputs, "UTF-8")
        input_ids = ids_from_chars.lookup(input_chars).to_tensor()
        predicted_logits, states = model(input_ids, states)
        predicted_logits = predicted_logits[:, -1, :] / temperature + mask
        predicted_ids = tf.squeeze(tf.random.categorical(predicted_logits, num_samples=1), axis=-1)
        return tf.gather(chars_from_ids, predicted_ids), states

    def run(prompt: str, num_chars: int) -> str:
        states = model.initial_state(1)
        next_char = tf.constant([prompt])
        result = []
        for _ in range(num_chars):
            next_char, states = generate_one_step(next_char, states)
            result.append(next_char)
        return tf.strings.join(result)[0].numpy().decode("utf-8")

    return run


def _step_loop_baseline(model):
    """A leaner per-character loop: ids in and out, tf.function(model.next + sampling.pick) per character."""
    import tensorflow as tf

    from tfcharrnn import sampling

    cfg = model.config

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int32), tf.TensorSpec([None, cfg.num_states, cfg.hidden_size], tf.float32),
                                  tf.TensorSpec([], tf.int32)])
    def step(ids, state, i):
        logits, state = model.next(ids, state)
        b = tf.shape(ids)[0]
        nxt = sampling.pick(logits, sampling.uniform(tf.zeros([b], tf.int64), i), tf.ones([b]), tf.zeros([b], tf.int32), tf.ones([b]))
        return nxt, state, i + 1

    def run(first_id: int, num_chars: int) -> np.ndarray:
        ids, state, i, out = tf.constant([first_id], tf.int32), model.initial_state(1), tf.constant(0), []
        for _ in range(num_chars):
            ids, state, i = step(ids, state, i)
            out.append(ids)
        return tf.concat(out, 0).numpy()

    return run


def _session_runner(path: str, batch: int, num_chars: int):
    """serving_default through the TF1 session loader, the way TF Serving runs a SavedModel."""
    import tensorflow as tf

    v1 = tf.compat.v1
    graph = tf.Graph()
    sess = v1.Session(graph=graph)
    with graph.as_default():
        sig = v1.saved_model.loader.load(sess, ["serve"], path).signature_def["serving_default"]
    feeds = {sig.inputs["prompt"].name: [b"T"] * batch, sig.inputs["max_new_chars"].name: [num_chars] * batch,
             sig.inputs["temperature"].name: [1.0] * batch, sig.inputs["top_k"].name: [0] * batch,
             sig.inputs["top_p"].name: [1.0] * batch, sig.inputs["seed"].name: list(range(batch))}
    fetch = sig.outputs["text"].name
    return (lambda: sess.run(fetch, feeds)), sess


def bench_serving(num_layers: int = 2, hidden_size: int = 128, num_chars: int = 2000, batch: int = 32,
                  repeats: int = 3, model_kind: str = "lstm", vocab=None, workdir: str | None = None, log=print) -> dict:
    """Time serving_default (loaded from disk, as a server does) against per-character Python loops.

    Random weights (speed does not depend on training); batch 1, ``num_chars`` characters, one
    prompt character, temperature 1. Candidates run round-robin, ``repeats`` times each after a
    warm-up, and each keeps its best time (the machines are shared and noisy):

      serving_s          serving_default via tf.saved_model.load (the TF2 function runtime)
      session_s          serving_default via the TF1 session loader (TF Serving's path)
      onestep_s          the TF text-generation tutorial's OneStep: one tf.function call per
                         character, strings in and out, the model called on a length-1 sequence
      step_loop_s        a leaner Python loop: tf.function(model.next + sampling.pick), ids only
      serving_batch_s    serving_default for ``batch`` prompts at once

    Ratios: speedup_vs_onestep = onestep_s / serving_s (and _session from session_s),
    speedup_vs_step_loop = step_loop_s / serving_s, batch_cost = serving_batch_s / serving_s
    (well under ``batch`` means batching pays). scripts/bench.py can call this and print the dict.
    """
    import keras
    import tensorflow as tf

    from tfcharrnn.config import ModelConfig
    from tfcharrnn.model import CharRNN
    from tfcharrnn.vocab import Vocabulary

    if vocab is None:  # Tiny Shakespeare's 65 characters
        corpus = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets", "tinyshakespeare.txt")
        if os.path.exists(corpus):
            with open(corpus, encoding="utf-8") as f:
                vocab = Vocabulary.from_text(f.read())
        else:
            vocab = Vocabulary.from_text("".join(chr(c) for c in range(32, 97)))
    keras.utils.set_random_seed(0)
    model = CharRNN(ModelConfig(vocab_size=vocab.size, model=model_kind, hidden_size=hidden_size, num_layers=num_layers))
    own = workdir is None
    workdir = workdir or tempfile.mkdtemp(prefix="tfcharrnn-bench-")
    sess = None
    try:
        info = export_saved_model(model, vocab, "bench", base_dir=workdir, tflite=False, warmup=False)
        serve = tf.saved_model.load(info["path"]).signatures["serving_default"]

        def request(b, n):
            return dict(prompt=tf.constant(["T"] * b), max_new_chars=tf.fill([b], n), temperature=tf.fill([b], 1.0),
                        top_k=tf.zeros([b], tf.int32), top_p=tf.ones([b]), seed=tf.range(b, dtype=tf.int64))

        one_req, batch_req = request(1, num_chars), request(batch, num_chars)
        onestep = _one_step_baseline(model, vocab)
        steploop = _step_loop_baseline(model)
        session_run, sess = _session_runner(info["path"], 1, num_chars)
        first = vocab.chars.index("T")
        candidates = {
            "serving_s": lambda: serve(**one_req)["text"].numpy(),
            "session_s": session_run,
            "onestep_s": lambda: onestep("T", num_chars),
            "step_loop_s": lambda: steploop(first, num_chars),
            "serving_batch_s": lambda: serve(**batch_req)["text"].numpy(),
        }
        for fn in candidates.values():  # warm-up: the first call instantiates and optimises each graph
            fn()
        times = {k: [] for k in candidates}
        for _ in range(repeats):
            for key, fn in candidates.items():
                t0 = time.perf_counter()
                fn()
                times[key].append(time.perf_counter() - t0)
    finally:
        if sess is not None:
            sess.close()
        if own:
            shutil.rmtree(workdir, ignore_errors=True)
    t = {k: min(v) for k, v in times.items()}

    def paired(num, den):  # the ratio within each round (back-to-back runs share the machine's load)
        ratios = sorted(a / b for a, b in zip(times[num], times[den]))
        return {"median": ratios[len(ratios) // 2], "min": ratios[0], "max": ratios[-1]}

    result = {
        "model": f"{num_layers}x{hidden_size} {model_kind}", "vocab_size": vocab.size, "num_chars": num_chars, "batch": batch,
        "repeats": repeats, **t, "times": times,
        "speedup_vs_onestep": t["onestep_s"] / t["serving_s"],
        "speedup_vs_onestep_session": t["onestep_s"] / t["session_s"],
        "speedup_vs_step_loop": t["step_loop_s"] / t["serving_s"],
        "batch_cost": t["serving_batch_s"] / t["serving_s"],
        "paired_speedup_vs_onestep": paired("onestep_s", "serving_s"),
        "paired_speedup_vs_onestep_session": paired("onestep_s", "session_s"),
        "paired_batch_cost": paired("serving_batch_s", "serving_s"),
        "serving_us_per_char": 1e6 * t["serving_s"] / num_chars,
        "session_us_per_char": 1e6 * t["session_s"] / num_chars,
        "onestep_us_per_char": 1e6 * t["onestep_s"] / num_chars,
    }
    ps = result["paired_speedup_vs_onestep"]
    log(f"{result['model']} (V={vocab.size}, {num_chars} chars, best of {repeats}): serving_default {t['serving_s']:.3f}s "
        f"({result['serving_us_per_char']:.0f} us/char), TF1 session {t['session_s']:.3f}s; OneStep loop {t['onestep_s']:.3f}s "
        f"-> {result['speedup_vs_onestep']:.1f}x (per round {ps['min']:.1f}-{ps['max']:.1f}x; "
        f"{result['speedup_vs_onestep_session']:.1f}x via session); step loop {t['step_loop_s']:.3f}s -> "
        f"{result['speedup_vs_step_loop']:.1f}x; batch {batch}: {t['serving_batch_s']:.3f}s = {result['batch_cost']:.1f}x one prompt")
    return result
