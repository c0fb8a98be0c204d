"""The .tflite export (tfcharrnn.tflite_export) and the TF-free reference sampler (tfcharrnn.litert_sampler).

Tiny models only: conftest's 30-step LSTM trained on a slice of Tiny Shakespeare, and random-weight
models of each kind for shape variety. The flip-rate measurement is @pytest.mark.slow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from benchmarks.litert import bench_tflite, quantization_report
from tfcharrnn import rng
from tfcharrnn.config import ModelConfig
from tfcharrnn.errors import UserError
from tfcharrnn.litert_sampler import LiteRTModel, generate_ids, sample_text, vocab_json_path
from tfcharrnn.model import CharRNN
from tfcharrnn.sampling import Generator, pick
from tfcharrnn.tflite_export import (
    VARIABLE_OPS,
    check_tflite,
    compare_step,
    convert,
    export_tflite,
    model_ops,
    tflite_functions,
)
from tfcharrnn.vocab import Vocabulary
from helpers.stops import apply_stops, never_in

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---------------------------------------------------------------------------------------------
# fixtures (session-wide: training and conversion are the slow parts)


@pytest.fixture(scope="session")
def trained(tmp_path_factory, tiny_checkpoint, shakespeare_text):
    """conftest's tiny trained LSTM (2 x 32, 30 steps); its float .tflite; a Generator."""
    from tfcharrnn.checkpoint import load_checkpoint

    ck = load_checkpoint(tiny_checkpoint, with_optimizer=False)
    tmp = tmp_path_factory.mktemp("tflite")
    path = str(tmp / "export" / "shakespeare.tflite")
    info = export_tflite(ck.model, ck.vocab, path)
    return types.SimpleNamespace(model=ck.model, vocab=ck.vocab, config=ck.config, path=path, info=info, tmp=tmp,
                                 text=shakespeare_text[:60_000],  # the corpus it was trained on (last 10 %: validation)
                                 lite=LiteRTModel(path), gen=Generator(ck.model, ck.vocab))


def _random_model(kind, layers, vocab, hidden=24, seed=0, scale=2.0):
    """kind "mi-lstm": an LSTM with multiplicative integration, its gains random (they start as the plain LSTM's)."""
    keras.utils.set_random_seed(seed)
    mi = kind == "mi-lstm"
    model = CharRNN(ModelConfig(vocab_size=vocab.size, model="lstm" if mi else kind, multiplicative_integration=mi, hidden_size=hidden,
                                num_layers=layers))
    # Random-init weights are tame; scale them up so the state moves and logits spread.
    for v in model.weights:
        v.assign(v.numpy() * scale)
    for layer in model.rnn_layers:
        for v in (getattr(layer.cell, name, None) for name in ("alpha", "beta_h", "beta_x")):
            if v is not None:
                v.assign(np.random.default_rng(seed).normal(1.0 if "beta" in v.path else 0.0, 0.3, v.shape))
    return model


SMALL_VOCAB = Vocabulary.from_text("abcdefghijklmnopqrstuvwxyz ,.;:!?'\nABCDEFGHIJ")


# ---------------------------------------------------------------------------------------------
# what the file holds


def test_builtin_ops_only_and_files_written(trained):
    ops = model_ops(trained.path)
    assert ops, "no operators found"
    assert not [op for op in ops if op.startswith("CUSTOM") or op.startswith("UNKNOWN") or "Flex" in op], ops
    assert not set(ops) & VARIABLE_OPS, ops  # weights are constants, not resource variables
    assert {"FULLY_CONNECTED", "GATHER", "CUMSUM", "SOFTMAX"} <= set(ops)
    info = trained.info
    assert info["signature_names"] == ["sample", "step", "vocabulary"]
    assert info["signatures"]["vocabulary"] == {"inputs": ["ids"], "outputs": ["byte_mode", "code_points"]}
    assert set(info["signatures"]["step"]["inputs"]) == {"token_id", "state"}
    assert set(info["signatures"]["step"]["outputs"]) == {"logits", "state"}
    assert set(info["signatures"]["sample"]["inputs"]) == {"token_id", "state", "temperature", "u", "top_k", "top_p"}
    assert set(info["signatures"]["sample"]["outputs"]) == {"next_id", "state"}
    assert info["size_bytes"] == os.path.getsize(trained.path)
    assert info["min_runtime_version"] and info["min_runtime_version"][0].isdigit()
    assert info["vocab_path"] == vocab_json_path(trained.path) and info["vocab_path"].endswith("shakespeare.vocab.json")
    with open(info["vocab_path"], encoding="utf-8") as f:
        assert Vocabulary.from_json(f.read()) == trained.vocab
    assert not [n for n in os.listdir(os.path.dirname(trained.path)) if n.startswith(".tmp")]


def test_weights_are_frozen_constants(trained):
    """The silent failure: a converted model without its weights is tiny and returns NaN."""
    params = sum(int(np.prod(v.shape)) for v in trained.model.weights)
    assert trained.info["size_bytes"] >= 4 * params  # float32 weights are really inside
    logits, state = trained.lite.step(np.array([1, 2], np.int32), trained.lite.initial_state(2))
    assert np.isfinite(logits).all() and np.isfinite(state).all()
    assert np.abs(logits).max() > 1e-3  # not all zero


def test_check_rejects_a_file_that_lost_its_weights(trained, tmp_path):
    """check_tflite (run by every export) catches missing weights: the same three functions, saved from
    a bare tf.Module holding the Keras model, convert without error but lose the weights (NaN or garbage)."""
    model, vocab = trained.model, trained.vocab
    module = tf.Module()
    module.model = model
    tf.saved_model.save(module, str(tmp_path / "bare"), signatures=tflite_functions(model, vocab))
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "bare"), signature_keys=["step", "sample", "vocabulary"])
    bare = converter.convert()
    lite = LiteRTModel(model_content=bare)
    cmp = compare_step(model, lite, np.array([[1, 2, 3]], np.int32))
    if cmp["finite"] and cmp["max_logit_diff"] < 1e-4:
        pytest.skip("this TensorFlow froze the weights on the bare tf.Module route too: the pitfall is gone")
    assert len(bare) < 4 * sum(int(np.prod(v.shape)) for v in model.weights)  # the weights are not in the file
    with pytest.raises(RuntimeError, match="variable ops|NaN|differ"):  # today: VAR_HANDLE / READ_VARIABLE left in
        check_tflite(bare, model, vocab)


def test_check_rejects_a_file_converted_from_other_weights(trained):
    model, vocab = trained.model, trained.vocab
    with pytest.raises(RuntimeError, match="differ|NaN"):
        check_tflite(convert(random_weights(model.config), vocab), model, vocab)


def random_weights(config, seed=1):
    model = CharRNN(config)
    for v in model.weights:
        v.assign(np.random.default_rng(seed).normal(size=v.shape).astype(np.float32))
    return model


def test_every_export_checks_its_file(trained, tiny_checkpoint, tmp_path, monkeypatch):
    """export_tflite and export_checkpoint run the check by default: when the converter's output
    disagrees with the model (a file converted from other weights stands in for it), the export
    fails and publishes nothing."""
    from tfcharrnn import tflite_export
    from tfcharrnn.export import export_checkpoint

    wrong = convert(random_weights(trained.model.config), trained.vocab)
    monkeypatch.setattr(tflite_export, "convert", lambda *args, **kwargs: wrong)
    with pytest.raises(RuntimeError, match="logits differ"):
        export_tflite(trained.model, trained.vocab, str(tmp_path / "lite" / "m.tflite"))
    assert not (tmp_path / "lite").exists() or os.listdir(tmp_path / "lite") == []
    with pytest.raises(RuntimeError, match="logits differ"):
        export_checkpoint(tiny_checkpoint, "tiny", base_dir=str(tmp_path / "models"), warmup=False)
    assert os.listdir(tmp_path / "models" / "tiny") == []  # no version, no temporary directory


# ---------------------------------------------------------------------------------------------
# step == Keras


@pytest.mark.parametrize("kind,layers", [("lstm", 1), ("lstm", 3), ("mi-lstm", 2), ("gru", 1), ("gru", 2), ("rnn", 2)])
def test_step_logits_match_keras_300_chars(kind, layers, tmp_path):
    # A tanh RNN with doubled weights is chaotic: 1e-7 kernel differences grow ~10x per 30
    # steps and reach O(1) by step 200 in Keras-vs-Keras-on-another-kernel terms too. Keep it tame.
    model = _random_model(kind, layers, SMALL_VOCAB, scale=1.0 if kind == "rnn" else 2.0)
    info = export_tflite(model, SMALL_VOCAB, str(tmp_path / f"{kind}{layers}.tflite"))
    lite = LiteRTModel(info["path"])
    assert (lite.num_states, lite.hidden_size) == (model.config.num_states, model.config.hidden_size)
    ids = SMALL_VOCAB.encode(("to be or not to be, that is the question: whether 'tis nobler in the mind\n" * 5)[:300])
    cmp = compare_step(model, lite, ids[None, :].astype(np.int32))
    assert cmp["steps"] == 300 and cmp["finite"]
    assert cmp["logit_scale"] > 0.1  # the comparison is not between near-zero numbers
    assert cmp["max_logit_diff"] < 1e-4, cmp
    assert cmp["state_diff"] < 1e-4, cmp


def test_trained_step_logits_match_keras_300_chars(trained):
    ids = trained.vocab.encode(trained.text[1000:1300])[None, :].astype(np.int32)
    cmp = compare_step(trained.model, trained.lite, ids)
    assert cmp["finite"] and cmp["max_logit_diff"] < 1e-4, cmp


# ---------------------------------------------------------------------------------------------
# sampling == the package's Generator


def test_greedy_text_identical_keras_tflite(trained):
    for prompt in ("ROMEO:", "", "a"):
        want = trained.gen.sample_text(prompt, 300, seed=11, temperature=0.0)
        got = sample_text(trained.lite, prompt, 300, seed=11, temperature=0.0)
        assert got == want, prompt
        assert len(got[0]) == 300


@pytest.mark.parametrize("temperature,top_k,top_p", [(1.0, 0, 1.0), (0.7, 0, 1.0), (1.0, 5, 1.0), (0.9, 0, 0.8), (1.2, 10, 0.9)])
def test_sampled_text_identical_to_generator(trained, temperature, top_k, top_p):
    want = trained.gen.sample_text("First Citizen:", 200, seed=3, num_samples=3, temperature=temperature, top_k=top_k, top_p=top_p)
    got = sample_text(trained.lite, "First Citizen:", 200, seed=3, num_samples=3, temperature=temperature, top_k=top_k, top_p=top_p)
    assert got == want


def test_empty_prompt_and_zero_length(trained):
    for n in (1, 2, 17):
        want = trained.gen.sample_text("", n, seed=9, num_samples=2)
        got = sample_text(trained.lite, "", n, seed=9, num_samples=2)
        assert got == want and all(len(t) == n for t in got)
    assert sample_text(trained.lite, "", 0, seed=9, num_samples=2) == ["", ""] == trained.gen.sample_text("", 0, seed=9, num_samples=2)
    assert sample_text(trained.lite, "ROMEO:", 0, seed=1) == [""]


def test_stop_strings_same_as_generator_and_no_step_after_the_last_row(trained, monkeypatch):
    from tfcharrnn.litert_sampler import sample

    prompt, settings = "First Citizen:", dict(seed=3, num_samples=3, temperature=0.9)
    full = trained.gen.sample_text(prompt, 200, **settings)
    calls = []
    real = trained.lite.sample
    monkeypatch.setattr(trained.lite, "sample", lambda *a, **k: calls.append(1) or real(*a, **k))
    for stops in ([full[0][50:52]], [full[1][120:123], full[2][80:82]], [never_in(full[0] + full[1] + full[2], trained.vocab.chars)]):
        want = [apply_stops(t, stops) for t in full]
        calls.clear()
        got = sample(trained.lite, prompt, 200, stop=stops, **settings)
        assert [tuple(s) for s in got] == want, stops
        assert got == trained.gen.sample(prompt, 200, stop=stops, **settings)
        assert len(calls) == max(s.new_chars for s in got)  # nothing runs once every row is done
    assert got[0].finish_reason == "length" and got[0].new_chars == 200
    first = sample(trained.lite, "", 30, seed=9, num_samples=2)  # an empty prompt's first character can be the stop
    got = sample(trained.lite, "", 30, seed=9, num_samples=2, stop=[first[0].text[0]])
    assert got == trained.gen.sample("", 30, seed=9, num_samples=2, stop=[first[0].text[0]])
    assert got[0] == ("", "stop", 1)


def test_cli_temperature_zero_is_greedy_and_stop_reports_on_stderr(trained, tiny_checkpoint, capsys):
    """scripts/sample.py on the .tflite and on the checkpoint it came from: --temperature 0 = --greedy; --stop
    (escapes understood) ends the text before the stop string and says so on stderr."""
    from tfcharrnn.cli.sample import main as sample_main

    greedy = trained.gen.sample_text("Citizen", 40, seed=1, temperature=0.0)[0]
    assert sample_text(trained.lite, "Citizen", 40, seed=2, temperature=0.0) == [greedy]
    full = trained.gen.sample_text("Citizen", 120, seed=4, temperature=1.0)[0]
    newline = full.find("\n", 1)
    stop = full[newline - 1: newline + 1] if newline > 0 else full[60:62]  # with a newline if there is one: the escape is used
    text, _, new_chars = apply_stops(full, [stop])
    for model in (trained.path, tiny_checkpoint):
        assert sample_main([model, "--length", "40", "--temperature", "0", "--prime", "Citizen", "--print_prime", "false"]) == 0
        assert capsys.readouterr().out == greedy + "\n"
        escaped = stop.replace("\\", "\\\\").replace("\n", "\\n")
        assert sample_main([model, "--length", "120", "--seed", "4", "--prime", "Citizen", "--print_prime", "false", "--stop", escaped]) == 0
        out, err = capsys.readouterr()
        assert out == text + "\n" and err == f"sample 1 (seed 4): ended at a stop string after {new_chars} generated characters\n"
    for bad in (-0.5, float("nan")):
        with pytest.raises(UserError, match=r"temperature must be a finite number >= 0 \(0 = greedy\)"):
            sample_text(trained.lite, "Citizen", 5, temperature=bad)


def test_sample_signature_is_pick(trained):
    """The in-model pick equals tfcharrnn.sampling.pick on the same logits and uniforms."""
    lite, vocab_size = trained.lite, trained.vocab.size
    r = np.random.default_rng(0)
    batch = 64
    ids = r.integers(0, vocab_size, batch).astype(np.int32)
    state = r.normal(size=(batch, lite.num_states, lite.hidden_size)).astype(np.float32)
    logits, _ = lite.step(ids, state)
    temperature = r.choice([0.0, 0.5, 1.0, 1.5], batch).astype(np.float32)
    top_k = r.choice([0, 1, 3, 20], batch).astype(np.int32)
    top_p = r.choice([1.0, 0.5, 0.9], batch).astype(np.float32)
    for trial in range(3):
        u = np.array([rng.uniform(trial, i) for i in range(batch)], np.float32)
        got, _ = lite.sample(ids, state, temperature, u, top_k, top_p)
        want = pick(tf.constant(logits), tf.constant(u), tf.constant(temperature), tf.constant(top_k), tf.constant(top_p)).numpy()
        np.testing.assert_array_equal(got, want)


def test_reference_loop_mirrors_generate_ids(trained):
    """Spelled out: prompt read once except the last char, then step + pick with uniform(seed, i)."""
    lite, vocab = trained.lite, trained.vocab
    prompt = vocab.encode("to be")
    state = lite.initial_state(1)
    for c in prompt[:-1]:
        _, state = lite.step([c], state)
    current, out = np.array([prompt[-1]], np.int32), []
    for i in range(40):
        logits, state = lite.step(current, state)
        current = pick(tf.constant(logits), tf.constant([rng.uniform(5, i)], tf.float32), tf.constant([0.8]), tf.constant([0]), tf.constant([1.0])).numpy()
        out.append(int(current[0]))
    assert generate_ids(lite, prompt, 40, [5], temperature=0.8).tolist() == [out]


# ---------------------------------------------------------------------------------------------
# vocabulary


def test_vocabulary_signature_is_code_points(trained):
    runner = trained.lite.interpreter.get_signature_runner("vocabulary")
    assert list(runner.get_input_details()) == ["ids"]  # one input: Android's runSignature refuses none
    out = runner(ids=np.arange(trained.vocab.size, dtype=np.int32))
    assert out["code_points"].dtype == np.int32
    assert out["code_points"].tolist() == [ord(c) for c in trained.vocab.chars]
    assert out["byte_mode"].tolist() == [0]  # shape [1], not a scalar: simpler to read from Java
    some = runner(ids=np.array([3, 0, 3], np.int32))["code_points"].tolist()
    assert some == [ord(trained.vocab.chars[i]) for i in (3, 0, 3)]
    assert trained.lite.vocab == trained.vocab


def test_byte_mode_vocabulary(tmp_path):
    text = "naïve café 日本\n".encode("utf-8").decode("latin-1")
    vocab = Vocabulary.from_text(text, mode="bytes")
    model = _random_model("gru", 1, vocab, hidden=16)
    info = export_tflite(model, vocab, str(tmp_path / "bytes.tflite"))
    lite = LiteRTModel(info["path"])
    assert lite.vocab == vocab and lite.vocab.mode == "bytes"
    assert lite.interpreter.get_signature_runner("vocabulary")(ids=np.array([0], np.int32))["byte_mode"].tolist() == [1]
    assert sample_text(lite, "café", 30, seed=2) == Generator(model, vocab).sample_text("café", 30, seed=2)


def test_large_chinese_vocabulary(tmp_path):
    """5,000+ characters (CJK): converts, runs, and matches the Keras model."""
    vocab = Vocabulary(tuple(chr(0x4E00 + i) for i in range(5200)) + ("。", "\n"))
    assert vocab.size > 5000
    model = _random_model("lstm", 1, vocab, hidden=32)
    info = export_tflite(model, vocab, str(tmp_path / "zh.tflite"))
    lite = LiteRTModel(info["path"])
    assert lite.vocab == vocab and info["vocab_size"] == vocab.size
    cmp = compare_step(model, lite, np.random.default_rng(0).integers(0, vocab.size, (1, 30)).astype(np.int32))
    assert cmp["finite"] and cmp["max_logit_diff"] < 1e-4, cmp
    prompt = "".join(vocab.chars[:3])
    gen = Generator(model, vocab)
    for kwargs in ({"temperature": 0.0}, {"temperature": 1.0}, {"temperature": 1.0, "top_k": 50}):
        got = sample_text(lite, prompt, 40, seed=4, **kwargs)
        assert got == gen.sample_text(prompt, 40, seed=4, **kwargs)
        assert len(got[0]) == 40 and all("\u4e00" <= ch <= "\u9fff" or ch in "。\n" for ch in got[0])


# ---------------------------------------------------------------------------------------------
# no TensorFlow needed


def _no_tf_env(tmp_path):
    shim = tmp_path / "no_tf"
    shim.mkdir(exist_ok=True)
    for name in ("tensorflow", "keras"):
        (shim / f"{name}.py").write_text(f"raise ImportError('{name} is blocked in this test')\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(shim), REPO] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def test_reference_sampler_runs_without_tensorflow(trained, tmp_path):
    env = _no_tf_env(tmp_path)
    check = subprocess.run([sys.executable, "-c", "import tensorflow"], env=env, capture_output=True, text=True)
    assert check.returncode != 0 and "blocked" in check.stderr  # the shim works
    args = [trained.path, "--length", "120", "--prime", "ROMEO:", "--num_samples", "2", "--seed", "5", "--temperature", "0.9", "--top_k", "8"]
    proc = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "sample.py"), *args], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    want = trained.gen.sample_text("ROMEO:", 120, seed=5, num_samples=2, temperature=0.9, top_k=8)
    expected = "".join(f"==== sample {i + 1} (seed {5 + i}) ====\nROMEO:{t}\n" for i, t in enumerate(want))
    assert proc.stdout == expected
    code = textwrap.dedent(f"""
        import sys
        from tfcharrnn.litert_sampler import LiteRTModel, sample_text
        print(sample_text(LiteRTModel({trained.path!r}), "", 50, seed=1, temperature=0.0)[0], end="")
        assert not [m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras")], "TF was imported"
        assert not [m for m in sys.modules if m.startswith("tfcharrnn.cli")], "the runtime imported the command line"
    """)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == trained.gen.sample_text("", 50, seed=1, temperature=0.0)[0]


def test_cli_single_sample_and_greedy(trained, capsys):
    from tfcharrnn.cli.sample import main as sample_main

    assert sample_main([trained.path, "--length", "60", "--greedy", "--prime", "Citizen"]) == 0
    assert capsys.readouterr().out == "Citizen" + trained.gen.sample_text("Citizen", 60, seed=123, temperature=0.0)[0] + "\n"
    assert sample_main([trained.path, "--length", "30", "--print_prime", "false", "--prime", "Citizen"]) == 0
    assert capsys.readouterr().out == trained.gen.sample_text("Citizen", 30, seed=123)[0] + "\n"


@pytest.mark.parametrize("argv,message", [
    (["--temperature", "-1"], "--temperature must be a finite number >= 0 \\(0 = greedy\\), got -1"),
    (["--temperature", "nan"], "--temperature must be a finite number >= 0"),
    (["--stop", "\u2603"], "stop string '\u2603' has 1 character\\(s\\) the model never saw"),
    (["--stop", "e" * 65], "is 65 characters long; a stop string is at most 64 characters"),
    (["--top_k", "100000"], "--top_k must be between"),
    (["--top_p", "0"], "--top_p must be in"),
    (["--num_samples", "0"], "--num_samples must be >= 1"),
    (["--prime", "\u2603"], "never saw"),
])
def test_cli_errors_are_user_errors(trained, argv, message):
    from tfcharrnn.cli.sample import main as sample_main

    with pytest.raises(UserError, match=message):
        sample_main([trained.path, *argv])


def test_bad_files_are_user_errors(trained, tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        LiteRTModel(str(tmp_path / "missing.tflite"))
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a flatbuffer at all" * 10)
    with pytest.raises(UserError, match="cannot be loaded"):
        LiteRTModel(str(junk))
    copy = tmp_path / "copy.tflite"
    copy.write_bytes(open(trained.path, "rb").read())
    (tmp_path / "copy.vocab.json").write_text(json.dumps({"mode": "chars", "chars": ["a", "b"]}))
    with pytest.raises(UserError, match="does not match"):
        LiteRTModel(str(copy))
    with pytest.raises(UserError, match="must end in .tflite"):
        export_tflite(trained.model, trained.vocab, str(tmp_path / "model.bin"))
    with pytest.raises(UserError, match="--quantize"):
        export_tflite(trained.model, trained.vocab, str(tmp_path / "m.tflite"), quantize="int4")
    with pytest.raises(UserError, match="vocabulary has"):
        export_tflite(trained.model, SMALL_VOCAB, str(tmp_path / "m.tflite"))


# ---------------------------------------------------------------------------------------------
# the SavedModel beside it


def test_keras_savedmodel_tflite_identical(trained, tmp_path):
    """Greedy and seeded text: Keras Generator == SavedModel serving_default == .tflite beside it."""
    from tfcharrnn.export import export_saved_model

    info = export_saved_model(trained.model, trained.vocab, "shakespeare", base_dir=str(tmp_path), warmup=False)
    assert info["tflite"] and os.path.isfile(info["tflite"]) and os.path.isfile(vocab_json_path(info["tflite"]))
    assert info["tflite_info"]["path"] == info["tflite"]
    lite = LiteRTModel(info["tflite"])
    serve = tf.saved_model.load(info["path"]).signatures["serving_default"]
    for prompt, temperature, top_k, top_p in (("ROMEO:", 0.0, 0, 1.0), ("", 0.0, 0, 1.0), ("First", 0.8, 0, 1.0), ("First", 1.0, 5, 0.9)):
        rows = 2
        out = serve(prompt=tf.constant([prompt] * rows), max_new_chars=tf.constant([300] * rows, tf.int32),
                    temperature=tf.constant([temperature] * rows, tf.float32), top_k=tf.constant([top_k] * rows, tf.int32),
                    top_p=tf.constant([top_p] * rows, tf.float32), seed=tf.constant([7 + i for i in range(rows)], tf.int64))
        served = [t.decode("utf-8") for t in out["text"].numpy()]
        keras_text = trained.gen.sample_text(prompt, 300, seed=7, num_samples=rows, temperature=temperature, top_k=top_k, top_p=top_p)
        lite_text = sample_text(lite, prompt, 300, seed=7, num_samples=rows, temperature=temperature, top_k=top_k, top_p=top_p)
        assert served == keras_text == lite_text, (prompt, temperature)


# ---------------------------------------------------------------------------------------------
# quantization and speed


def test_dynamic_quantization_smaller_and_close(trained, tmp_path):
    info = export_tflite(trained.model, trained.vocab, str(tmp_path / "q.tflite"), quantize="dynamic")
    assert info["quantize"] == "dynamic"
    assert not [op for op in info["ops"] if op.startswith("CUSTOM")]
    assert info["size_bytes"] < trained.info["size_bytes"]
    report = quantization_report(trained.model, trained.vocab, trained.text[-3000:], streams=8, max_chars=2000)
    assert report["chars"] == 2000
    assert abs(report["none"]["loss_cost"]) < 1e-4  # float TFLite == Keras
    assert np.isfinite(report["dynamic"]["loss"]) and abs(report["dynamic"]["loss_cost"]) < 0.05
    assert report["dynamic"]["size_bytes"] < report["none"]["size_bytes"]
    by_ids = quantization_report(trained.model, trained.vocab, trained.vocab.encode(trained.text[-3000:]), streams=8, max_chars=2000, modes=("none",))
    assert by_ids["keras_loss"] == pytest.approx(report["keras_loss"]) and by_ids["none"]["loss"] == pytest.approx(report["none"]["loss"])
    lite = LiteRTModel(info["path"])
    assert len(sample_text(lite, "ROMEO:", 50, seed=1)[0]) == 50


def test_export_cli_quantize_float16(tiny_checkpoint, tiny_saved_model, tmp_path, capsys):
    from tfcharrnn.checkpoint import load_checkpoint
    from tfcharrnn.cli.export import main as export_main
    from tfcharrnn.litert_sampler import LiteRTModel, sample_text
    from tfcharrnn.tflite_export import compare_step, rollout_ids

    assert export_main([tiny_checkpoint, "--name", "half", "--base_dir", str(tmp_path), "--quantize", "float16", "--no_warmup"]) == 0
    path = str(tmp_path / "half" / "1" / "assets.extra" / "half.tflite")
    assert f"TFLite:     {path}" in capsys.readouterr().out
    lite = LiteRTModel(path)
    ckpt = load_checkpoint(tiny_checkpoint, with_optimizer=False)
    half = [t for t in lite.interpreter.get_tensor_details() if t["dtype"] == np.float16]
    assert sum(int(np.prod(t["shape"])) for t in half) >= 0.9 * ckpt.model.count_params()  # the weights are float16
    assert os.path.getsize(path) < 0.75 * os.path.getsize(tiny_saved_model["tflite"])  # the float32 export of the same checkpoint
    cmp = compare_step(ckpt.model, lite, rollout_ids(ckpt.vocab.size, 50, batch=2))
    assert 0 < cmp["max_logit_diff"] < 0.05 * max(1.0, cmp["logit_scale"])  # rounded weights, close logits
    assert len(sample_text(lite, "ROMEO:", 40, seed=1)[0]) == 40


def test_bench_tflite_small(trained):
    r = bench_tflite(trained.path, num_chars=50, repeats=1)
    assert r["tflite_chars_per_s"] > 0 and r["size_bytes"] == trained.info["size_bytes"]
    r = bench_tflite(trained.model, trained.vocab, num_chars=30, repeats=1)
    assert r["tflite_chars_per_s"] > 0 and r["keras_chars_per_s"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("temperature,top_k,top_p", [(1.0, 0, 1.0), (0.8, 10, 0.9)])
def test_flip_rate_sampled_text(trained, temperature, top_k, top_p):
    """How often float differences between TF and TFLite kernels flip a sampled pick: count texts that differ."""
    seeds, n = 200, 300
    kwargs = dict(seed=0, num_samples=seeds, temperature=temperature, top_k=top_k, top_p=top_p)
    want = trained.gen.sample_text("", n, **kwargs)
    got = sample_text(trained.lite, "", n, **kwargs)
    differing = [i for i in range(seeds) if got[i] != want[i]]
    print(f"flip measurement (T={temperature}, top_k={top_k}, top_p={top_p}): {len(differing)} of {seeds} texts x {n} chars differ")
    assert len(differing) <= seeds // 100  # at most 1 %: a flip needs u within ~1e-7 of a boundary
