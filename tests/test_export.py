"""The SavedModel export for TensorFlow Serving (tfcharrnn.export, scripts/export.py, scripts/serving_client.py).

The TF Serving binary cannot be installed on these machines. What stands in for it here:
- `saved_model_cli show` / `saved_model_cli run` (TensorFlow's own tool; `run` loads the model
  through the TF1 session loader, the path TF Serving uses),
- a fresh Python process that cannot import tfcharrnn,
- TEST DOUBLES of TF Serving's request handling, in tests/helpers/serving_double.py and named so
  (`ServingTestDouble`, `grpc_servicer_test_double`, `RestHandlerTestDouble`): they follow
  tensorflow_serving/servables/tensorflow/predict_util.cc (input-set check, signature lookup)
  and tensorflow_serving/util/json_tensor.cc (the REST `instances` / `inputs` bodies and their
  `predictions` / `outputs` answers) and run the signatures with tf.saved_model.load. They are
  not TF Serving; they check that our signatures accept the requests TF Serving would build.

Tiny models only: a 2x32 LSTM trained 20 steps, random-weight models for the vocabulary modes.
"""

from __future__ import annotations

import ast
import base64
import json
import os
import re
import subprocess
import sys
import textwrap
import threading
from http.server import ThreadingHTTPServer

import numpy as np
import pytest
import tensorflow as tf

from tfcharrnn import export as export_lib
from tfcharrnn.config import ModelConfig
from tfcharrnn.errors import UserError
from tfcharrnn.model import CharRNN
from tfcharrnn.sampling import Generator
from tfcharrnn.vocab import Vocabulary
from conftest import SHAKESPEARE  # the ../shared copy, else the bundled one
from helpers.serving_double import RestHandlerTestDouble as _TestDoubleRestHandler
from helpers.serving_double import ServingTestDouble
from helpers.serving_double import grpc_servicer_test_double as _test_double_grpc_servicer
from helpers.serving_double import signature_defs as _signature_defs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load_script(name):
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"tfcharrnn_script_{name}", os.path.join(REPO, "scripts", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


serving_client = _load_script("serving_client")

DTYPES = {"prompt": tf.string, "max_new_chars": tf.int32, "temperature": tf.float32, "top_k": tf.int32, "top_p": tf.float32, "seed": tf.int64}


def _text(n=60000):
    with open(SHAKESPEARE, encoding="utf-8") as f:
        return f.read(n)


def _request(prompts, n=20, temperature=1.0, top_k=0, top_p=1.0, seed=0, per_row_seeds=None):
    b = len(prompts)

    def rows(v):
        return list(v) if isinstance(v, (list, tuple)) else [v] * b

    seeds = per_row_seeds if per_row_seeds is not None else [seed + i for i in range(b)]
    values = dict(prompt=list(prompts), max_new_chars=rows(n), temperature=rows(temperature), top_k=rows(top_k), top_p=rows(top_p), seed=seeds)
    return {k: tf.constant(v, DTYPES[k]) for k, v in values.items()}


def _texts(out):
    return [t.decode("utf-8") for t in out["text"].numpy()]


# ---------------------------------------------------------------------------------------------
# fixtures (session-wide: training, export and loading are the slow parts)


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    from tfcharrnn.training import TrainConfig, train

    tmp = tmp_path_factory.mktemp("export_trained")
    data = tmp / "input.txt"
    data.write_text(_text(), encoding="utf-8")
    saved_cache = os.environ.get("TFCHARRNN_CACHE")
    os.environ["TFCHARRNN_CACHE"] = str(tmp / "cache")
    try:
        train(TrainConfig(train_data=str(data), hidden_size=32, num_layers=2, batch_size=8, seq_length=32, max_steps=20,
                          max_epochs=0, eval_val_every=0, sample_every=0, checkpoint_dir=str(tmp / "cv"), quiet=True),
              log=lambda *a, **k: None)
    finally:
        if saved_cache is None:
            os.environ.pop("TFCHARRNN_CACHE", None)
        else:
            os.environ["TFCHARRNN_CACHE"] = saved_cache
    return str(tmp / "cv")


@pytest.fixture(scope="session")
def ckpt(trained):
    from tfcharrnn.checkpoint import load_checkpoint

    return load_checkpoint(trained, with_optimizer=False)


@pytest.fixture(scope="session")
def generator(ckpt):
    return Generator(ckpt.model, ckpt.vocab)


@pytest.fixture(scope="session")
def exported(trained, tmp_path_factory):
    base = tmp_path_factory.mktemp("saved_models")
    info = export_lib.export_checkpoint(trained, "tiny", base_dir=str(base))
    return info


@pytest.fixture(scope="session")
def served(exported):
    return tf.saved_model.load(exported["path"])


# ---------------------------------------------------------------------------------------------
# layout and graph


def test_layout_is_what_tf_serving_loads(exported):
    path = exported["path"]
    assert exported["version"] == 1 and path.endswith(os.path.join("tiny", "1"))
    assert os.path.isfile(os.path.join(path, "saved_model.pb"))
    assert os.path.isfile(os.path.join(path, "variables", "variables.index"))
    extra = os.path.join(path, "assets.extra")
    vocab = Vocabulary.from_json(open(os.path.join(extra, "vocab.json"), encoding="utf-8").read())
    meta = json.load(open(os.path.join(extra, "export.json"), encoding="utf-8"))
    assert meta["signatures"] == ["serving_default", "generate", "step", "vocabulary"] and meta["max_new_chars"] == export_lib.MAX_NEW_CHARS
    assert meta["vocab_size"] == vocab.size
    # nothing but version directories beside it (temporary directories are gone)
    assert os.listdir(os.path.dirname(path)) == ["1"]
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o777 & ~umask  # not mkdtemp's 0700: any server user can read it
    for root, dirs, files in os.walk(path):
        for f in files:
            assert os.stat(os.path.join(root, f)).st_mode & 0o444 == 0o444 & ~umask, f


def test_tflite_written_inside_the_version_unless_disabled(exported):
    assert exported["tflite"] == os.path.join(exported["path"], "assets.extra", "tiny.tflite")
    assert os.path.getsize(exported["tflite"]) > 1000
    assert exported["tflite_info"]["path"] == exported["tflite"]  # paths name the final place, not the temp dir


def test_signature_defs_dtypes_shapes(exported, ckpt):
    sigs = _signature_defs(exported["path"])
    assert set(sigs) >= {"serving_default", "generate", "step", "vocabulary"}
    cfg = ckpt.config
    request = {"prompt": ("DT_STRING", [-1]), "max_new_chars": ("DT_INT32", [-1]), "temperature": ("DT_FLOAT", [-1]),
               "top_k": ("DT_INT32", [-1]), "top_p": ("DT_FLOAT", [-1]), "seed": ("DT_INT64", [-1])}
    want = {
        "serving_default": (request, {"text": ("DT_STRING", [-1]), "ids": ("DT_INT32", [-1, -1])}),
        "generate": ({**request, "stop": ("DT_STRING", [-1])},
                     {"text": ("DT_STRING", [-1]), "ids": ("DT_INT32", [-1, -1]), "new_chars": ("DT_INT32", [-1]),
                      "finish_reason": ("DT_STRING", [-1])}),
        "step": (
            {"token_id": ("DT_INT32", [-1]), "state": ("DT_FLOAT", [-1, cfg.num_states, cfg.hidden_size])},
            {"logits": ("DT_FLOAT", [-1, cfg.vocab_size]), "state": ("DT_FLOAT", [-1, cfg.num_states, cfg.hidden_size])}),
        "vocabulary": ({"ids": ("DT_INT32", [-1])}, {"chars": ("DT_STRING", [-1]), "token_bytes": ("DT_STRING", [-1])}),
    }
    from tensorflow.core.framework import types_pb2

    for name, (inputs, outputs) in want.items():
        sig = sigs[name]
        assert sig.method_name == "tensorflow/serving/predict"
        for got, expected in ((sig.inputs, inputs), (sig.outputs, outputs)):
            assert {k: (types_pb2.DataType.Name(v.dtype), [d.size for d in v.tensor_shape.dim]) for k, v in got.items()} == expected


def test_graph_has_only_stock_ops(exported):
    ops = export_lib.graph_ops(exported["path"])
    assert export_lib.forbidden_ops(exported["path"]) == []
    assert not [op for op in ops if op in ("PyFunc", "PyFuncStateless", "EagerPyFunc") or op.startswith(("Cudnn", "Flex"))]
    assert [op for op in ops if not hasattr(tf.raw_ops, op)] == []  # every op is a registered TensorFlow op
    assert "UnicodeDecode" in ops and ops & {"While", "StatelessWhile"}  # the string mapping and the loop are in the graph


def test_forbidden_ops_detects_pyfunc(tmp_path):
    class M(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
        def f(self, x):
            return tf.py_function(lambda v: v * 2, [x], tf.float32)

    m = M()
    tf.saved_model.save(m, str(tmp_path), signatures={"f": m.f.get_concrete_function()})
    assert export_lib.forbidden_ops(str(tmp_path)) == ["EagerPyFunc"]


@pytest.mark.skipif(not tf.config.list_physical_devices("GPU"), reason="needs a visible GPU")
def test_export_with_a_gpu_visible_has_no_cudnn(ckpt, tmp_path):
    info = export_lib.export_saved_model(ckpt.model, ckpt.vocab, "gpu", base_dir=str(tmp_path), tflite=False)
    assert not [op for op in export_lib.graph_ops(info["path"]) if "Cudnn" in op]


# ---------------------------------------------------------------------------------------------
# generation: the same text as the in-package sampler


CASES = [  # prompt, n, temperature, top_k, top_p, seed
    ("ROMEO:", 40, 1.0, 0, 1.0, 1),
    ("ROMEO:", 40, 0.7, 0, 1.0, 5),
    ("First Citizen", 30, 1.0, 5, 1.0, 11),
    ("the ", 30, 1.2, 0, 0.9, 3),
    ("K", 25, 0.8, 10, 0.8, 42),
    ("", 25, 1.0, 0, 1.0, 7),
    ("ROMEO:", 30, 0.0, 0, 1.0, 9),  # greedy
]


@pytest.mark.parametrize("case", CASES, ids=[f"T{c[2]}-k{c[3]}-p{c[4]}-{'empty' if not c[0] else 'prompt'}" for c in CASES])
def test_same_text_as_in_package_sampler(served, generator, case):
    prompt, n, temperature, top_k, top_p, seed = case
    want = generator.sample_text(prompt, n, seed=seed, num_samples=2, temperature=temperature, top_k=top_k, top_p=top_p)
    out = served.signatures["serving_default"](**_request([prompt, prompt], n, temperature, top_k, top_p, seed))
    assert _texts(out) == want
    ids = out["ids"].numpy()
    assert ids.shape == (2, n) and (ids >= 0).all()


def test_same_request_same_text(served):
    req = _request(["ROMEO:", "JULIET:"], 50, 1.0, seed=123)
    a, b = served.signatures["serving_default"](**req), served.signatures["serving_default"](**req)
    assert _texts(a) == _texts(b)
    assert _texts(a)[0] != _texts(served.signatures["serving_default"](**_request(["ROMEO:", "JULIET:"], 50, 1.0, seed=124)))[0]


def test_prompts_of_different_lengths_are_each_read_correctly(served):
    prompts = ["ROMEO:", "", "A", "First Citizen:\nBefore we proceed"]
    seeds = [3, 4, 5, 6]
    sig = served.signatures["serving_default"]
    batch = _texts(sig(**_request(prompts, 30, 0.9, per_row_seeds=seeds)))
    alone = [_texts(sig(**_request([p], 30, 0.9, per_row_seeds=[s])))[0] for p, s in zip(prompts, seeds)]
    assert batch == alone


def test_rows_of_different_lengths_pad_ids_with_minus_one(served):
    out = served.signatures["serving_default"](**_request(["ab", "ROMEO:", "x"], [5, 0, 12], 1.0, seed=1))
    ids = out["ids"].numpy()
    assert ids.shape == (3, 12)
    assert [int((row >= 0).sum()) for row in ids] == [5, 0, 12]
    assert (ids[0, 5:] == -1).all() and (ids[1] == -1).all()
    assert [len(t) for t in _texts(out)] == [5, 0, 12]


def test_rows_with_different_settings_do_not_affect_each_other(served):
    sig = served.signatures["serving_default"]
    rows = [("ROMEO:", 1.0, 0, 1.0), ("ROMEO:", 0.8, 5, 1.0), ("ROMEO:", 0.0, 0, 1.0), ("ROMEO:", 1.2, 0, 0.7), ("", 1.0, 3, 0.9)]
    seeds = [1, 2, 3, 4, 5]
    prompts, temps, ks, ps = (list(c) for c in zip(*rows))
    mixed = _texts(sig(**_request(prompts, 30, temps, ks, ps, per_row_seeds=seeds)))
    alone = [_texts(sig(**_request([p], 30, t, k, q, per_row_seeds=[s])))[0] for (p, t, k, q), s in zip(rows, seeds)]
    assert mixed == alone


def test_greedy_ignores_the_seed(served):
    sig = served.signatures["serving_default"]
    a = _texts(sig(**_request(["ROMEO:"], 30, 0.0, seed=1)))
    b = _texts(sig(**_request(["ROMEO:"], 30, 0.0, seed=999)))
    assert a == b


def test_empty_batch_and_zero_length(served):
    sig = served.signatures["serving_default"]
    out = sig(**_request([], 10))
    assert out["text"].shape == (0,)
    out = sig(**_request(["ROMEO:"], 0))
    assert _texts(out) == [""] and out["ids"].shape == (1, 0)


BAD = [
    (dict(prompt=["ROMEO\u2603\u4e2d"]), "characters the model never saw:] [\u2603 \u4e2d]"),
    (dict(prompt=[b"\xffROMEO"]), "not valid UTF-8"),
    (dict(max_new_chars=[-1]), "max_new_chars must be between 0 and 10000"),
    (dict(max_new_chars=[10001]), "max_new_chars must be between 0 and 10000"),
    (dict(temperature=[-0.5]), "temperature must be a finite number >= 0"),
    (dict(temperature=[float("nan")]), "temperature must be a finite number >= 0"),
    (dict(top_k=[-2]), "top_k must be >= 0"),
    (dict(top_p=[0.0]), "top_p must be in (0, 1]"),
    (dict(top_p=[1.5]), "top_p must be in (0, 1]"),
    (dict(seed=[1, 2]), "every input needs the same batch size"),
]


@pytest.mark.parametrize("bad,message", BAD, ids=[m.split()[0] + "-" + str(i) for i, (_, m) in enumerate(BAD)])
def test_bad_requests_are_invalid_argument_and_the_model_keeps_serving(served, bad, message):
    values = dict(prompt=["ROMEO:"], max_new_chars=[5], temperature=[1.0], top_k=[0], top_p=[1.0], seed=[0])
    values.update(bad)
    sig = served.signatures["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError) as e:
        sig(**{k: tf.constant(v, DTYPES[k]) for k, v in values.items()})
    assert message in e.value.message
    assert len(_texts(sig(**_request(["ROMEO:"], 5)))[0]) == 5


def test_generate_stops_each_row_as_the_sampler_does(served, generator, ckpt):
    from helpers.stops import apply_stops, never_in

    prompts, seeds = ["ROMEO:", "", "ROMEO:", "First", "ROMEO:"], [1, 2, 3, 4, 5]
    sig = served.signatures["generate"]
    full = _texts(served.signatures["serving_default"](**_request(prompts, 60, 0.9, per_row_seeds=seeds)))
    stops = [full[0][20:22], full[1][10:13], never_in(full[2], ckpt.vocab.chars), "", full[4][0]]
    out = sig(**_request(prompts, 60, 0.9, per_row_seeds=seeds), stop=tf.constant(stops))
    got = list(zip(_texts(out), [r.decode() for r in out["finish_reason"].numpy()], out["new_chars"].numpy().tolist()))
    assert got == [apply_stops(t, [s]) for t, s in zip(full, stops)]
    assert [r for _, r, _ in got] == ["stop", "stop", "length", "length", "stop"] and got[4] == ("", "stop", 1)
    for p, s, stop, row in zip(prompts, seeds, stops, got):
        assert tuple(generator.sample(p, 60, seed=s, temperature=0.9, stop=[stop])[0]) == row
    ids = out["ids"].numpy()
    assert ids.shape == (5, 60) and [int((r >= 0).sum()) for r in ids] == [len(t) for t, _, _ in got]  # the texts' ids, -1 padded
    with_no_stop = sig(**_request(prompts, 60, 0.9, per_row_seeds=seeds), stop=tf.constant([""] * 5))
    assert _texts(with_no_stop) == full and set(with_no_stop["finish_reason"].numpy()) == {b"length"}


def test_stop_cost_helper_measures_the_two_requests(exported):
    """tests/helpers/stop_cost.py (the figure for docs/serving.md): a smoke run, its timings not judged here."""
    from helpers.stop_cost import stop_cost

    r = stop_cost(exported["path"], max_new_chars=120, stop_after=20, batch=2, repeats=1)
    assert r["new_chars"]["full_s"] == [120, 120] and all(n <= 23 for n in r["new_chars"]["stop_s"])
    assert r["full_s"] > 0 and r["stop_s"] > 0 and r["serving_default_s"] > 0


BAD_STOPS = [
    (["e" * 65], "stop must be at most 64 characters long, got lengths] [65]"),
    (["ROMEO\u2603"], "stop has characters the model never saw:] [\u2603]"),
    ([b"\xff"], "stop is not valid UTF-8"),
    (["a", "b"], "every input needs the same batch size"),
]


@pytest.mark.parametrize("stop,message", BAD_STOPS, ids=["too-long", "unknown", "not-utf8", "batch"])
def test_generate_refuses_bad_stop_strings(served, stop, message):
    sig = served.signatures["generate"]
    with pytest.raises(tf.errors.InvalidArgumentError) as e:
        sig(**_request(["ROMEO:"], 5), stop=tf.constant(stop))
    assert message in e.value.message
    assert _texts(sig(**_request(["ROMEO:"], 5), stop=tf.constant(["e" * 64])))[0]  # at the cap is fine, and it keeps serving


def test_max_new_chars_cap_is_an_export_option(ckpt, tmp_path):
    info = export_lib.export_saved_model(ckpt.model, ckpt.vocab, "capped", base_dir=str(tmp_path), max_new_chars=8, tflite=False, warmup=False)
    sig = tf.saved_model.load(info["path"]).signatures["serving_default"]
    assert len(_texts(sig(**_request(["a"], 8)))[0]) == 8
    with pytest.raises(tf.errors.InvalidArgumentError, match="between 0 and 8"):
        sig(**_request(["a"], 9))
    with pytest.raises(UserError, match="max_new_chars"):
        export_lib.export_saved_model(ckpt.model, ckpt.vocab, "capped", base_dir=str(tmp_path), max_new_chars=0, tflite=False)


# ---------------------------------------------------------------------------------------------
# step and vocabulary signatures


def test_step_matches_model_and_a_client_side_greedy_loop(served, ckpt):
    cfg = ckpt.config
    step, vocab_sig = served.signatures["step"], served.signatures["vocabulary"]
    state = tf.zeros([2, cfg.num_states, cfg.hidden_size])
    ids = tf.constant([3, 7], tf.int32)
    got = step(token_id=ids, state=state)
    want_logits, want_state = ckpt.model.next(ids, state)
    np.testing.assert_allclose(got["logits"].numpy(), want_logits.numpy(), atol=1e-5)
    np.testing.assert_allclose(got["state"].numpy(), want_state.numpy(), atol=1e-5)
    # a client that reads the prompt and picks greedily with `step` gets serving_default's greedy text
    chars = [c.decode("utf-8") for c in vocab_sig(ids=tf.range(cfg.vocab_size))["chars"].numpy()]
    index = {c: i for i, c in enumerate(chars)}
    state = tf.zeros([1, cfg.num_states, cfg.hidden_size])
    for c in "ROMEO:":
        out = step(token_id=tf.constant([index[c]]), state=state)
        state = out["state"]
    text = ""
    for _ in range(20):
        nxt = int(np.argmax(out["logits"].numpy()[0]))
        text += chars[nxt]
        out = step(token_id=tf.constant([nxt]), state=out["state"])
    assert text == _texts(served.signatures["serving_default"](**_request(["ROMEO:"], 20, 0.0)))[0]
    with pytest.raises(tf.errors.InvalidArgumentError, match="token_id must be in"):
        step(token_id=tf.constant([cfg.vocab_size]), state=tf.zeros([1, cfg.num_states, cfg.hidden_size]))


def test_vocabulary_signature(served, ckpt):
    v = ckpt.vocab
    out = served.signatures["vocabulary"](ids=tf.range(v.size))
    assert [c.decode("utf-8") for c in out["chars"].numpy()] == list(v.chars)
    assert b"".join(out["token_bytes"].numpy()).decode("utf-8") == "".join(v.chars)
    with pytest.raises(tf.errors.InvalidArgumentError, match="ids must be in"):
        served.signatures["vocabulary"](ids=tf.constant([-1]))


# ---------------------------------------------------------------------------------------------
# vocabulary modes: a large CJK vocabulary, and bytes


def _random_model(vocab, hidden=16, seed=0):
    import keras

    keras.utils.set_random_seed(seed)
    return CharRNN(ModelConfig(vocab_size=vocab.size, hidden_size=hidden, num_layers=1, embedding_size=8))


def test_large_cjk_vocabulary(tmp_path):
    chars = [chr(c) for c in range(0x4E00, 0x4E00 + 5200)] + list(" \n,.abc")
    vocab = Vocabulary.from_chars(chars)
    model = _random_model(vocab)
    info = export_lib.export_saved_model(model, vocab, "cjk", base_dir=str(tmp_path), tflite=False, warmup=False)
    sig = tf.saved_model.load(info["path"]).signatures["serving_default"]
    prompt = "\u4e00\u4e8c\u4e09 abc"
    out = _texts(sig(**_request([prompt, prompt], 30, 1.0, seed=5)))
    assert out == Generator(model, vocab).sample_text(prompt, 30, seed=5, num_samples=2)
    assert all(len(t) == 30 for t in out)
    with pytest.raises(tf.errors.InvalidArgumentError, match="never saw"):
        sig(**_request(["\u3042"], 3))


def test_bytes_mode(tmp_path):
    vocab = Vocabulary(tuple(chr(b) for b in range(256)), mode="bytes")
    model = _random_model(vocab, seed=1)
    info = export_lib.export_saved_model(model, vocab, "bytes", base_dir=str(tmp_path), tflite=False, warmup=False)
    loaded = tf.saved_model.load(info["path"])
    sig = loaded.signatures["serving_default"]
    gen = Generator(model, vocab)
    for prompt in ("h\u00e9llo \u2603", ""):
        got = _texts(sig(**_request([prompt, prompt], 40, 1.0, seed=9)))
        assert got == gen.sample_text(prompt, 40, seed=9, num_samples=2)  # invalid UTF-8 becomes U+FFFD in both
    out = loaded.signatures["vocabulary"](ids=tf.constant([65, 200]))
    assert out["token_bytes"].numpy().tolist() == [b"A", b"\xc8"]
    assert [c.decode("utf-8") for c in out["chars"].numpy()] == ["A", "\u00c8"]
    # a vocabulary missing some bytes names the missing byte values
    small = Vocabulary.from_text("abc \n", mode="bytes")
    info = export_lib.export_saved_model(_random_model(small), small, "small", base_dir=str(tmp_path), tflite=False, warmup=False)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\(byte values\] \[195 169\]"):
        tf.saved_model.load(info["path"]).signatures["serving_default"](**_request(["ab\u00e9"], 3))


# ---------------------------------------------------------------------------------------------
# versions, atomic writing, the command line


def test_versions_overwrite_and_atomicity(ckpt, tmp_path, monkeypatch):
    base = str(tmp_path)
    kw = dict(base_dir=base, tflite=False, warmup=False)
    assert export_lib.export_saved_model(ckpt.model, ckpt.vocab, "m", **kw)["version"] == 1
    assert export_lib.export_saved_model(ckpt.model, ckpt.vocab, "m", version=7, **kw)["version"] == 7
    assert export_lib.next_version(os.path.join(base, "m")) == 8  # after the highest, gaps are left alone
    with pytest.raises(UserError, match="already exists; pass --overwrite"):
        export_lib.export_saved_model(ckpt.model, ckpt.vocab, "m", version=1, **kw)
    before = os.stat(os.path.join(base, "m", "7", "saved_model.pb")).st_mtime_ns
    export_lib.export_saved_model(ckpt.model, ckpt.vocab, "m", version=7, overwrite=True, **kw)
    assert os.stat(os.path.join(base, "m", "7", "saved_model.pb")).st_mtime_ns != before

    real_save = tf.saved_model.save

    def broken_save(obj, path, **k):  # writes part of the SavedModel, then fails
        real_save(obj, path, **k)
        os.remove(os.path.join(path, "saved_model.pb"))
        raise OSError(28, "No space left on device (simulated)")

    monkeypatch.setattr(tf.saved_model, "save", broken_save)
    with pytest.raises(OSError, match="simulated"):  # a failed overwrite keeps the old version
        export_lib.export_saved_model(ckpt.model, ckpt.vocab, "m", version=7, overwrite=True, **kw)
    assert sorted(os.listdir(os.path.join(base, "m"))) == ["1", "7"]  # and leaves no temporary directory
    assert os.path.isfile(os.path.join(base, "m", "7", "saved_model.pb"))


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden", "sp ace"])
def test_bad_names(ckpt, tmp_path, name):
    with pytest.raises(UserError, match="--name"):
        export_lib.export_saved_model(ckpt.model, ckpt.vocab, name, base_dir=str(tmp_path), tflite=False)


def test_bad_version(ckpt, tmp_path):
    with pytest.raises(UserError, match="--version must be a positive integer"):
        export_lib.export_saved_model(ckpt.model, ckpt.vocab, "m", version=0, base_dir=str(tmp_path), tflite=False)


def test_an_unknown_quantize_is_refused_before_anything_is_written(tiny_checkpoint, tmp_path):
    from tfcharrnn.errors import UserError
    from tfcharrnn.export import export_checkpoint

    with pytest.raises(UserError, match="--quantize 'int4' is not known"):
        export_checkpoint(tiny_checkpoint, "q", base_dir=str(tmp_path), quantize="int4", warmup=False)
    assert not os.path.exists(tmp_path / "q")  # refused before the version directory was even made


def test_cli_exports_and_refuses_to_overwrite(trained, tmp_path, capsys):
    script = _load_script("export")
    args = [trained, "--name", "cli", "--base_dir", str(tmp_path), "--no_tflite", "--no_warmup"]
    assert script.main(args) == 0
    out = capsys.readouterr().out
    assert "SavedModel: " in out and "docker run" in out and "MODEL_NAME=cli" in out
    assert not os.path.exists(os.path.join(tmp_path, "cli", "1", "assets.extra", "cli.tflite"))
    with pytest.raises(UserError, match="already exists"):
        script.main(args + ["--version", "1"])


def test_cli_errors_are_one_line(tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "export.py"), str(tmp_path / "missing"), "--name", "x"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: checkpoint") and "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "export.py"), str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--name" in proc.stderr and "Traceback" not in proc.stderr


# ---------------------------------------------------------------------------------------------
# outside this process: saved_model_cli and a Python without tfcharrnn


def _saved_model_cli():
    path = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    assert os.path.exists(path), f"{path} is missing: the tensorflow package installs it beside the interpreter"
    return path


def _quiet_env():
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")


def test_saved_model_cli_show_lists_signatures(exported, ckpt):
    proc = subprocess.run([_saved_model_cli(), "show", "--dir", exported["path"], "--all"], capture_output=True, text=True,
                          timeout=300, env=_quiet_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    sigs, current, section = {}, None, None
    for line in proc.stdout.splitlines():
        if m := re.match(r"signature_def\['(\w+)'\]:", line):
            current = sigs.setdefault(m.group(1), {"inputs": {}, "outputs": {}, "method": None})
        elif m := re.match(r"\s+(inputs|outputs)\['(\w+)'\] tensor_info:", line):
            section = current[m.group(1)].setdefault(m.group(2), {})
        elif m := re.match(r"\s+(dtype|shape): (.*)", line):
            section[m.group(1)] = m.group(2).strip()
        elif m := re.match(r"\s+Method name is: (.*)", line):
            current["method"] = m.group(1).strip()
    g = sigs["serving_default"]
    assert {k: (v["dtype"], v["shape"]) for k, v in g["inputs"].items()} == {
        "prompt": ("DT_STRING", "(-1)"), "max_new_chars": ("DT_INT32", "(-1)"), "temperature": ("DT_FLOAT", "(-1)"),
        "top_k": ("DT_INT32", "(-1)"), "top_p": ("DT_FLOAT", "(-1)"), "seed": ("DT_INT64", "(-1)")}
    assert {k: (v["dtype"], v["shape"]) for k, v in g["outputs"].items()} == {"text": ("DT_STRING", "(-1)"), "ids": ("DT_INT32", "(-1, -1)")}
    s = sigs["step"]
    shape = f"(-1, {ckpt.config.num_states}, {ckpt.config.hidden_size})"
    assert s["inputs"]["token_id"]["shape"] == "(-1)" and s["inputs"]["state"]["shape"] == shape
    assert s["outputs"]["logits"]["shape"] == f"(-1, {ckpt.config.vocab_size})" and s["outputs"]["state"]["shape"] == shape
    assert sigs["vocabulary"]["outputs"]["chars"]["dtype"] == "DT_STRING"
    assert {sigs[k]["method"] for k in ("serving_default", "step", "vocabulary")} == {"tensorflow/serving/predict"}


def test_saved_model_cli_run_generates(exported, generator):
    exprs = "prompt=['ROMEO:'];max_new_chars=[30];temperature=[0.8];top_k=[0];top_p=[1.0];seed=[4]"  # python literals only
    proc = subprocess.run([_saved_model_cli(), "run", "--dir", exported["path"], "--tag_set", "serve", "--signature_def", "serving_default",
                           "--input_exprs", exprs], capture_output=True, text=True, timeout=300, env=_quiet_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    text_line = lines[lines.index("Result for output key text:") + 1]
    (text,) = ast.literal_eval(text_line)  # "[b'...']", numpy's print of a string array
    assert text.decode("utf-8") == generator.sample_text("ROMEO:", 30, seed=4, temperature=0.8)[0]


FRESH = textwrap.dedent("""
    import json, sys

    class NoTfcharrnn:
        def find_spec(self, name, path=None, target=None):
            if name == "tfcharrnn" or name.startswith("tfcharrnn."):
                raise ImportError("tfcharrnn is not importable in this process")

    sys.meta_path.insert(0, NoTfcharrnn())
    try:
        import tfcharrnn  # noqa: F401
        sys.exit("tfcharrnn was importable")
    except ImportError:
        pass
    import tensorflow as tf

    model = tf.saved_model.load(sys.argv[1])
    gen = model.signatures["serving_default"]
    out = []
    for prompt, n, temperature, top_k, top_p, seed in json.loads(sys.argv[2]):
        r = gen(prompt=tf.constant([prompt, prompt]), max_new_chars=tf.constant([n, n]), temperature=tf.constant([temperature] * 2),
                top_k=tf.constant([top_k] * 2), top_p=tf.constant([top_p] * 2), seed=tf.constant([seed, seed + 1], tf.int64))
        out.append([t.decode("utf-8") for t in r["text"].numpy()])
    # The TF1 session loader, the way TF Serving loads a SavedModel: restore op, then signature tensors by name.
    import numpy as np

    v1 = tf.compat.v1
    with tf.Graph().as_default(), v1.Session() as sess:
        meta = v1.saved_model.loader.load(sess, ["serve"], sys.argv[1])
        sigs = meta.signature_def
        prompt, n, temperature, top_k, top_p, seed = json.loads(sys.argv[2])[0]
        feeds = {"prompt": [prompt.encode()], "max_new_chars": [n], "temperature": [temperature], "top_k": [top_k],
                 "top_p": [top_p], "seed": [seed]}
        g = sigs["serving_default"]
        text = sess.run(g.outputs["text"].name, {g.inputs[k].name: v for k, v in feeds.items()})[0].decode("utf-8")
        s = sigs["step"]
        shape = [d.size for d in s.inputs["state"].tensor_shape.dim]
        logits = sess.run(s.outputs["logits"].name, {s.inputs["token_id"].name: [1], s.inputs["state"].name: np.zeros([1] + shape[1:])})
        voc = sigs["vocabulary"]
        chars = sess.run(voc.outputs["chars"].name, {voc.inputs["ids"].name: list(range(logits.shape[1]))})
    v2_logits = model.signatures["step"](token_id=tf.constant([1]), state=tf.zeros([1] + shape[1:]))["logits"].numpy()
    assert text == out[0][0], (text, out[0][0])
    assert np.allclose(logits, v2_logits, atol=1e-6) and len(chars) == logits.shape[1]
    assert "tfcharrnn" not in sys.modules
    print("RESULT " + json.dumps(out))
""")


def test_fresh_process_without_tfcharrnn_generates_the_same_text(exported, generator, tmp_path):
    script = tmp_path / "fresh.py"
    script.write_text(FRESH, encoding="utf-8")
    proc = subprocess.run([sys.executable, str(script), exported["path"], json.dumps(CASES)], capture_output=True, text=True,
                          timeout=300, cwd=str(tmp_path), env=_quiet_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    (line,) = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    got = json.loads(line[len("RESULT "):])
    for (prompt, n, temperature, top_k, top_p, seed), texts in zip(CASES, got):
        assert texts == generator.sample_text(prompt, n, seed=seed, num_samples=2, temperature=temperature, top_k=top_k, top_p=top_p)


# ---------------------------------------------------------------------------------------------
# TEST DOUBLES of TF Serving's request handling (not TF Serving; tests/helpers/serving_double.py)


@pytest.fixture(scope="session")
def double(exported):
    return ServingTestDouble(exported["path"], "tiny")


def test_grpc_predict_request_from_make_tensor_proto(double, generator):
    req = serving_client.grpc_request("tiny", ["ROMEO:", "ROMEO:"], max_new_chars=25, temperature=0.9, top_k=0, top_p=0.95, seed=3)
    response, error = double.predict(req)
    assert error is None
    texts = [t.decode("utf-8") for t in tf.make_ndarray(response.outputs["text"])]
    assert texts == generator.sample_text("ROMEO:", 25, seed=3, num_samples=2, temperature=0.9, top_p=0.95)
    assert tf.make_ndarray(response.outputs["ids"]).shape == (2, 25)
    # a request with a wrong dtype or a missing input is refused, as TF Serving refuses it
    bad = serving_client.grpc_request("tiny", ["ROMEO:"])
    bad.inputs["seed"].CopyFrom(tf.make_tensor_proto([1], dtype=tf.int32))
    assert double.predict(bad)[1][0] == "INVALID_ARGUMENT"
    del bad.inputs["seed"]
    assert double.predict(bad)[1][0] == "INVALID_ARGUMENT"
    # a bad value is INVALID_ARGUMENT with our message
    bad = serving_client.grpc_request("tiny", ["ROMEO:"], max_new_chars=10**6)
    code, message = double.predict(bad)[1]
    assert code == "INVALID_ARGUMENT" and "max_new_chars must be between 0 and 10000" in message


def test_grpc_step_and_vocabulary_requests(double, ckpt):
    from tensorflow_serving.apis import predict_pb2

    cfg = ckpt.config
    req = predict_pb2.PredictRequest()
    req.model_spec.name, req.model_spec.signature_name = "tiny", "step"
    req.inputs["token_id"].CopyFrom(tf.make_tensor_proto([1, 2], dtype=tf.int32))
    req.inputs["state"].CopyFrom(tf.make_tensor_proto(np.zeros((2, cfg.num_states, cfg.hidden_size), np.float32)))
    response, error = double.predict(req)
    assert error is None and tf.make_ndarray(response.outputs["logits"]).shape == (2, cfg.vocab_size)
    req = predict_pb2.PredictRequest()
    req.model_spec.name, req.model_spec.signature_name = "tiny", "vocabulary"
    req.inputs["ids"].CopyFrom(tf.make_tensor_proto(np.arange(cfg.vocab_size, dtype=np.int32)))
    response, error = double.predict(req)
    assert [c.decode("utf-8") for c in tf.make_ndarray(response.outputs["chars"])] == list(ckpt.vocab.chars)


@pytest.mark.parametrize("fmt", ["instances", "inputs"])
def test_rest_bodies_in_both_formats(double, generator, fmt):
    body = serving_client.rest_body(["ROMEO:", "JULIET:"], fmt, max_new_chars=20, temperature=0.8, seed=10)
    status, answer = double.predict_json(json.loads(json.dumps(body)))
    assert status == 200, answer
    texts = serving_client.texts_from_rest_response(answer)
    assert texts[0] == generator.sample_text("ROMEO:", 20, seed=10, temperature=0.8)[0]
    assert texts[1] == generator.sample_text("JULIET:", 20, seed=11, temperature=0.8)[0]
    if fmt == "instances":
        assert set(answer["predictions"][0]) == {"text", "ids"} and len(answer["predictions"][0]["ids"]) == 20
    status, answer = double.predict_json({**body, "signature_name": "nope"})
    assert status == 400


def test_rest_vocabulary_bytes_are_base64(double, ckpt):
    status, answer = double.predict_json({"signature_name": "vocabulary", "instances": [0, 1, 2]})
    assert status == 200
    assert [base64.b64decode(p["token_bytes"]["b64"]).decode("utf-8") for p in answer["predictions"]] == list(ckpt.vocab.chars[:3])


def test_rest_bad_value_is_a_400_with_our_message(double):
    body = serving_client.rest_body(["ROMEO:"], "instances", temperature=-1.0)
    status, answer = double.predict_json(body)
    assert status == 400 and "temperature must be a finite number >= 0" in answer["error"]


def _curl_bodies(doc_path):
    """The JSON bodies of every `curl ... -d '...'` example in docs/serving.md."""
    text = open(doc_path, encoding="utf-8").read()
    return [json.loads(m) for m in re.findall(r"-d '(\{.*?\})'", text, flags=re.S)]


def test_docs_curl_bodies_are_accepted(double):
    bodies = _curl_bodies(os.path.join(REPO, "docs", "serving.md"))
    assert len(bodies) >= 2
    for body in bodies:
        status, answer = double.predict_json(body)
        assert status == 200, (body, answer)


def test_serving_client_over_grpc_against_a_test_double_server(double, generator):
    import grpc
    from concurrent import futures

    from tensorflow_serving.apis import prediction_service_pb2_grpc

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(_test_double_grpc_servicer(double), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        target = f"127.0.0.1:{port}"
        texts = serving_client.grpc_generate(target, "tiny", ["ROMEO:", ""], max_new_chars=15, temperature=0.9, seed=2)
        assert texts == [generator.sample_text("ROMEO:", 15, seed=2, temperature=0.9)[0],
                         generator.sample_text("", 15, seed=3, temperature=0.9)[0]]
        with pytest.raises(serving_client.ServingError, match="INVALID_ARGUMENT: .*top_p must be in"):
            serving_client.grpc_generate(target, "tiny", ["ROMEO:"], top_p=0.0)
    finally:
        server.stop(0)


def test_serving_client_over_rest_against_a_test_double_server(double, generator, capsys, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    handler = type("Handler", (_TestDoubleRestHandler,), {"double": double})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        for fmt in ("instances", "inputs"):
            texts = serving_client.rest_generate(url, "tiny", ["ROMEO:"], fmt, max_new_chars=15, temperature=0.0)
            assert texts == generator.sample_text("ROMEO:", 15, temperature=0.0)
        assert serving_client.main(["--model", "tiny", "--url", url, "--prompt", "ROMEO:", "--max_new_chars", "12", "--seed", "5"]) == 0
        assert capsys.readouterr().out == "ROMEO:" + generator.sample_text("ROMEO:", 12, seed=5)[0] + "\n"
        assert serving_client.main(["--model", "tiny", "--url", url, "--prompt", "\u2603"]) == 2
        assert "never saw" in capsys.readouterr().err
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_warmup_requests_replay(double, exported):
    from tensorflow_serving.apis import prediction_log_pb2

    path = os.path.join(exported["path"], "assets.extra", export_lib.WARMUP_FILE)
    records = list(tf.data.TFRecordDataset(path).as_numpy_iterator())
    assert records
    for record in records:
        log = prediction_log_pb2.PredictionLog.FromString(record)
        log.predict_log.request.model_spec.name = "tiny"
        response, error = double.predict(log.predict_log.request)
        assert error is None and "text" in response.outputs

