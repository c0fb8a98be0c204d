"""Write a model as a builtin-only .tflite for LiteRT (Android, iOS): step, sample, vocabulary.

    from tfcharrnn.checkpoint import load_checkpoint
    from tfcharrnn.tflite_export import export_tflite
    ck = load_checkpoint("cv/", with_optimizer=False)
    info = export_tflite(ck.model, ck.vocab, "out/shakespeare.tflite")              # float32
    info = export_tflite(ck.model, ck.vocab, "out/shakespeare-q.tflite", quantize="dynamic")
    info["path"], info["vocab_path"], info["size_bytes"], info["signatures"]
    model_ops("out/shakespeare.tflite")         # {"FULLY_CONNECTED": 6, ...}: what the file holds, no interpreter

Signatures (B is any batch size, S = layers x (2 for LSTM, else 1), H hidden units, V chars):
    step(token_id int32 [B], state float32 [B,S,H]) -> logits float32 [B,V], state [B,S,H]
    sample(token_id, state, temperature f32 [B], u f32 [B], top_k i32 [B], top_p f32 [B])
        -> next_id int32 [B], state [B,S,H]          (tfcharrnn.sampling.pick inside the model)
    vocabulary(ids int32 [N]) -> code_points int32 [N], byte_mode int32 [1]
        the characters of ids (pass 0..V-1 for all; V = step's logits width) as Unicode code
        points, no strings (they need Flex); byte_mode 1: each code point is a byte of UTF-8
NAME.vocab.json (Vocabulary.to_json) is written beside NAME.tflite.

How the weights end up as constants: the model's `next` is traced into tf.functions that an
ExportArchive writes as a SavedModel (in a temporary directory), and the converter reads that
SavedModel. Converting the same functions with `from_concrete_functions`, or a SavedModel of a
bare tf.Module holding the Keras model, converts without error but leaves the weights out: the
file is a few KB and returns NaN. So every export is checked before it is written: the file
must hold builtin ops only, no variable ops, and its `step` logits must match the Keras model
over a short rollout (float32: within 1e-4 relative to the logit scale), or export fails.

The reference sampler that runs the file without TensorFlow is tfcharrnn.litert_sampler.
"""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np
from ai_edge_litert import schema_py_generated as _schema

from tfcharrnn.files import atomic_write_bytes
from tfcharrnn.errors import UserError
from tfcharrnn.litert_sampler import SIGNATURES, LiteRTModel, vocab_json_path, vocab_to_code_points

QUANTIZE = ("none", "dynamic", "float16")
VARIABLE_OPS = {"VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE", "CALL_ONCE"}


def normalise_quantize(quantize) -> str:
    """A --quantize value as one of QUANTIZE (None means "none"); UserError for any other."""
    q = "none" if quantize in (None, "", False) else str(quantize).lower()
    if q not in QUANTIZE:
        raise UserError(f"--quantize {quantize!r} is not known; use one of {', '.join(QUANTIZE)}")
    return q


# ---------------------------------------------------------------------------------------------
# what is inside a .tflite (flatbuffer walk, no interpreter needed)


def model_ops(model) -> dict[str, int]:
    """Operator name -> count over every subgraph (IF branches included).

    ``model`` is a path or the file's bytes. A custom op (Flex ops included) is reported as
    ``CUSTOM:<name>``, e.g. ``CUSTOM:FlexStringSplit``.
    """
    data = _read_bytes(model)
    m = _schema.Model.GetRootAs(data, 0)
    names = {v: k for k, v in vars(_schema.BuiltinOperator).items() if not k.startswith("_")}
    codes = []
    for i in range(m.OperatorCodesLength()):
        oc = m.OperatorCodes(i)
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        if code == _schema.BuiltinOperator.CUSTOM:
            custom = oc.CustomCode()
            codes.append("CUSTOM:" + (custom.decode() if isinstance(custom, bytes) else str(custom)))
        else:
            codes.append(names.get(code, f"UNKNOWN_{code}"))
    counts: dict[str, int] = {}
    for s in range(m.SubgraphsLength()):
        sub = m.Subgraphs(s)
        for j in range(sub.OperatorsLength()):
            name = codes[sub.Operators(j).OpcodeIndex()]
            counts[name] = counts.get(name, 0) + 1
    return counts


def min_runtime_version(model) -> str | None:
    """The oldest TFLite / LiteRT runtime the converter says runs the file (e.g. "2.5.0")."""
    m = _schema.Model.GetRootAs(_read_bytes(model), 0)
    for i in range(m.MetadataLength()):
        md = m.Metadata(i)
        if md.Name() in (b"min_runtime_version", "min_runtime_version"):
            buf = m.Buffers(md.Buffer())
            return bytes(buf.DataAsNumpy()).rstrip(b"\0").decode("ascii") if buf.DataLength() else None
    return None


def _read_bytes(model) -> bytes:
    if isinstance(model, (bytes, bytearray, memoryview)):
        return bytes(model)
    with open(model, "rb") as f:
        return f.read()


# ---------------------------------------------------------------------------------------------
# the graph


def tflite_functions(model, vocab, batch_size=None) -> dict:
    """The three signatures as tf.functions with their own input signatures.

    batch_size None: every batch dimension is dynamic (B = None). An int fixes B, and N = V in
    `vocabulary`: LiteRT.js (the web) refuses a tensor for a dynamic dimension and cannot resize.
    """
    import tensorflow as tf

    from tfcharrnn.sampling import pick

    c = model.config
    if vocab.size != c.vocab_size:
        raise UserError(f"the vocabulary has {vocab.size} characters but the model expects {c.vocab_size}; export the checkpoint's own vocabulary")
    b = batch_size
    state_spec = tf.TensorSpec([b, c.num_states, c.hidden_size], tf.float32, name="state")
    ids_spec = tf.TensorSpec([b], tf.int32, name="token_id")

    @tf.function(input_signature=[ids_spec, state_spec])
    def step(token_id, state):
        logits, new_state = model.next(token_id, state)
        return {"logits": tf.cast(logits, tf.float32), "state": tf.cast(new_state, tf.float32)}

    @tf.function(input_signature=[
        ids_spec, state_spec,
        tf.TensorSpec([b], tf.float32, name="temperature"),
        tf.TensorSpec([b], tf.float32, name="u"),
        tf.TensorSpec([b], tf.int32, name="top_k"),
        tf.TensorSpec([b], tf.float32, name="top_p"),
    ])
    def sample(token_id, state, temperature, u, top_k, top_p):
        logits, new_state = model.next(token_id, state)
        return {"next_id": pick(logits, u, temperature, top_k, top_p), "state": tf.cast(new_state, tf.float32)}

    code_points, byte_mode = vocab_to_code_points(vocab)

    # One input on purpose: LiteRT's Java/Kotlin runSignature refuses a signature without inputs.
    @tf.function(input_signature=[tf.TensorSpec([None if b is None else c.vocab_size], tf.int32, name="ids")])
    def vocabulary(ids):
        return {"code_points": tf.gather(tf.constant(code_points, tf.int32), ids), "byte_mode": tf.constant([byte_mode], tf.int32)}

    return {"step": step, "sample": sample, "vocabulary": vocabulary}


def convert(model, vocab, quantize=None, batch_size=None) -> bytes:
    """The .tflite bytes (not checked; export_tflite checks them). batch_size: see tflite_functions."""
    import keras
    import tensorflow as tf

    q = normalise_quantize(quantize)
    with tempfile.TemporaryDirectory(prefix="tfcharrnn-tflite-") as tmp:
        saved = os.path.join(tmp, "saved_model")
        # Trace on the CPU: a GPU-visible trace may pin kernels a phone does not have.
        with tf.device("/CPU:0"):
            archive = keras.export.ExportArchive()
            archive.track(model)
            for name, fn in tflite_functions(model, vocab, batch_size).items():
                archive.add_endpoint(name, fn)
            archive.write_out(saved, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved, signature_keys=list(SIGNATURES))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # Flex or custom: conversion fails
        if q == "dynamic":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]  # int8 weights, float activations
        elif q == "float16":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        try:
            return converter.convert()
        except Exception as e:  # the converter raises ConverterError, a plain Exception subclass
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise RuntimeError(f"TFLite conversion failed: {first}") from e


# ---------------------------------------------------------------------------------------------
# checks


def rollout_ids(vocab_size: int, length: int, batch: int = 1, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, vocab_size, size=(batch, length)).astype(np.int32)


def compare_step(model, lite: LiteRTModel, ids) -> dict:
    """Teacher-forced rollout of ids (B, T) through Keras `next` and TFLite `step`, state carried."""
    import tensorflow as tf

    ids = np.asarray(ids, np.int32)
    k_state = model.initial_state(ids.shape[0])
    t_state = lite.initial_state(ids.shape[0])
    next_fn = tf.function(model.next, reduce_retracing=True)
    max_diff, scale, finite = 0.0, 0.0, True
    for t in range(ids.shape[1]):
        k_logits, k_state = next_fn(tf.constant(ids[:, t]), k_state)
        t_logits, t_state = lite.step(ids[:, t], t_state)
        finite = finite and bool(np.isfinite(t_logits).all() and np.isfinite(t_state).all())
        k = k_logits.numpy()
        max_diff = max(max_diff, float(np.abs(k - t_logits).max()))
        scale = max(scale, float(np.abs(k).max()))
    state_diff = float(np.abs(k_state.numpy() - t_state).max())
    return {"max_logit_diff": max_diff, "logit_scale": scale, "state_diff": state_diff, "finite": finite, "steps": ids.shape[1]}


def check_tflite(content: bytes, model, vocab, quantize=None, steps: int = 24, batch_size=None) -> dict:
    """Refuse a file that is not builtin-only, lost its weights or disagrees with the model.

    batch_size: the batch a fixed-shape file was converted for (None: dynamic, checked with 2 rows).
    """
    q = normalise_quantize(quantize)
    ops = model_ops(content)
    bad = sorted(op for op in ops if op.startswith("CUSTOM") or op.startswith("UNKNOWN") or op in VARIABLE_OPS)
    if bad:
        raise RuntimeError(f"the converted model holds non-builtin or variable ops {bad}; it would need Flex or lost its weights")
    lite = LiteRTModel(model_content=content)
    if lite.vocab != vocab:
        raise RuntimeError("the converted model's vocabulary signature does not return the vocabulary")
    cmp = compare_step(model, lite, rollout_ids(vocab.size, steps, batch=batch_size or 2))
    if not cmp["finite"]:
        raise RuntimeError("the converted model returns NaN or inf: its weights were not frozen as constants")
    tol = 1e-4 * max(1.0, cmp["logit_scale"]) if q == "none" else 0.5 * max(1.0, cmp["logit_scale"])
    if cmp["max_logit_diff"] > tol:
        raise RuntimeError(f"the converted model's logits differ from the Keras model's by {cmp['max_logit_diff']:.3g} "
                           f"(tolerance {tol:.3g}): its weights were not frozen correctly")
    return {"ops": ops, **cmp}


# ---------------------------------------------------------------------------------------------
# the entry point scripts/export.py calls


def export_tflite(model, vocab, path, quantize=None, validate: bool = True, batch_size=None) -> dict:
    """Write PATH (.tflite) and PATH's NAME.vocab.json; return what was written.

    quantize: None / "none" (float32), "dynamic" (int8 weights, float activations) or
    "float16" (half-size weights, computed in float32 on CPU). batch_size: None (any batch) or
    a fixed batch (1 for LiteRT.js; see tflite_functions).
    """
    path = os.fspath(path)
    if not path.endswith(".tflite"):
        raise UserError(f"the TFLite path {path!r} must end in .tflite (scripts/sample.py recognises models by that suffix)")
    q = normalise_quantize(quantize)
    t0 = time.perf_counter()
    content = convert(model, vocab, q, batch_size)
    check = check_tflite(content, model, vocab, q, batch_size=batch_size) if validate else {"ops": model_ops(content)}
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    vocab_path = vocab_json_path(path)
    atomic_write_bytes(vocab_path, vocab.to_json().encode("utf-8"))
    atomic_write_bytes(path, content)
    lite = LiteRTModel(model_content=content)
    signatures = lite.interpreter.get_signature_list()
    return {
        "path": path,
        "vocab_path": vocab_path,
        "size_bytes": len(content),
        "quantize": q,
        "signatures": {k: {"inputs": list(v["inputs"]), "outputs": list(v["outputs"])} for k, v in signatures.items()},
        "signature_names": sorted(signatures),
        "num_states": lite.num_states,
        "hidden_size": lite.hidden_size,
        "vocab_size": lite.vocab_size,
        "ops": check["ops"],
        "min_runtime_version": min_runtime_version(content),
        "max_logit_diff": check.get("max_logit_diff"),
        "seconds": time.perf_counter() - t0,
    }
