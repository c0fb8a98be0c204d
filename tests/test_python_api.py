"""tfcharrnn from Python: the README's Python blocks, tfcharrnn.load / generate, and CharRNN's Keras conventions.

    python -m pytest -q tests/test_python_api.py

The README's ```python blocks run in order, each in a fresh process, in one temporary directory
holding an input.txt of real text, with one prelude: tfcharrnn.train trains a tiny model for 3
steps whatever budget the block asks for (the README's own call stays as written).
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
PRELUDE = '''
import tfcharrnn.api as _api
_train = _api.train


def _tiny_train(*args, **flags):  # the README's call, on a tiny model for 3 steps
    flags.update(max_steps=3, hidden_size=16, num_layers=1, embedding_size=8, batch_size=8, seq_length=16,
                 train_path="keras", sample_every=0, eval_val_every=0, quiet=True)
    return _train(*args, **flags)


_api.train = _tiny_train
'''


def readme_python_blocks():
    with open(README, encoding="utf-8") as f:
        return re.findall(r"^```python\n(.*?)^```", f.read(), re.M | re.S)


def test_the_readmes_python_blocks_run(tmp_path, shakespeare_text):
    blocks = readme_python_blocks()
    assert blocks and any("tfcharrnn.train(" in b and "tfcharrnn.load(" in b for b in blocks), "the README lost its Python API"
    (tmp_path / "input.txt").write_text(shakespeare_text[:20_000], encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2", TFCHARRNN_CACHE=str(tmp_path / "cache"), PYTHONIOENCODING="utf-8")
    outputs = []
    for i, block in enumerate(blocks):
        proc = subprocess.run([sys.executable, "-c", PRELUDE + block], cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"README python block {i + 1} failed:\n{block}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
        outputs.append(proc.stdout)
    # what the first block promises
    assert (tmp_path / "cv" / "latest.json").is_file()
    assert (tmp_path / "saved_models" / "shakespeare" / "1" / "saved_model.pb").is_file()
    assert (tmp_path / "saved_models" / "shakespeare" / "1" / "assets.extra" / "shakespeare.tflite").is_file()
    assert (tmp_path / "shakespeare.keras").is_file() and "char_rnn" in outputs[0]
    generated = outputs[0].split("Model: ")[0].rstrip("\n")
    assert len(generated) >= 300, outputs[0]


def test_generate_is_what_sample_prints(tiny_checkpoint, capsys):
    """LanguageModel.generate: the same text as scripts/sample.py with the same settings; the same checks."""
    import tfcharrnn
    from tfcharrnn.cli.sample import main
    from tfcharrnn.errors import UserError

    model = tfcharrnn.load(tiny_checkpoint)
    assert isinstance(model, tfcharrnn.LanguageModel) and model.path.startswith(tiny_checkpoint)
    text = model.generate("ROMEO:", length=60, temperature=0.8, top_k=10, seed=7)
    greedy = model.generate("ROMEO:", length=60, temperature=0)
    stopped = model.generate("ROMEO:", length=300, temperature=0.8, seed=7, stop=["e"])
    assert len(text) == 60 and text != greedy and len(stopped) < 300 and "e" not in stopped
    capsys.readouterr()
    main([tiny_checkpoint, "--prime", "ROMEO:", "--length", "60", "--temperature", "0.8", "--top_k", "10", "--seed", "7"])
    assert capsys.readouterr().out == "ROMEO:" + text + "\n"
    main([tiny_checkpoint, "--prime", "ROMEO:", "--length", "60", "--greedy"])
    assert capsys.readouterr().out == "ROMEO:" + greedy + "\n"
    main([tiny_checkpoint, "--prime", "ROMEO:", "--length", "300", "--temperature", "0.8", "--seed", "7", "--stop", "e"])
    assert capsys.readouterr().out == "ROMEO:" + stopped + "\n"
    with pytest.raises(UserError, match="--temperature must be"):
        model.generate("ROMEO:", temperature=-1)
    with pytest.raises(UserError, match="not in the vocabulary|unknown|never"):
        model.generate("\u2603", length=5)


def test_import_tfcharrnn_imports_no_tensorflow():
    probe = "import sys, tfcharrnn; assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules; print(tfcharrnn.__all__)"
    proc = subprocess.run([sys.executable, "-c", probe], env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "LanguageModel" in proc.stdout, proc.stderr


# ---------------------------------------------------------------------------------------------
# CharRNN in Keras' own format


def test_charrnn_round_trips_through_a_keras_file(tiny_checkpoint, tmp_path):
    """model.save("m.keras") then keras.saving.load_model: a CharRNN with the same config, the same
    logits (1e-6) and state, and the same samples through next and the stepper."""
    import keras
    import tensorflow as tf

    from tfcharrnn.checkpoint import load_checkpoint
    from tfcharrnn.model import CharRNN
    from tfcharrnn.recurrence import Recurrence
    from tfcharrnn.sampling import Generator

    ckpt = load_checkpoint(tiny_checkpoint, with_optimizer=False)
    model = ckpt.model
    assert keras.saving.get_registered_object("tfcharrnn>CharRNN") is CharRNN
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert type(loaded) is CharRNN and loaded.config == model.config and loaded.get_config() == model.get_config()

    ids = np.random.default_rng(0).integers(0, model.config.vocab_size, (3, 40)).astype(np.int32)
    state = tf.random.normal([3, model.config.num_states, model.config.hidden_size], seed=1)
    (a, sa), (b, sb) = model(ids, state), loaded(ids, state)
    np.testing.assert_allclose(b.numpy(), a.numpy(), atol=1e-6)
    np.testing.assert_allclose(sb.numpy(), sa.numpy(), atol=1e-6)
    (a, sa), (b, sb) = model.next(ids[:, 0], state), loaded.next(ids[:, 0], state)
    np.testing.assert_allclose(b.numpy(), a.numpy(), atol=1e-6)
    settings = dict(seed=3, num_samples=2, temperature=0.8, top_p=0.9)
    assert Generator(loaded, ckpt.vocab).sample_text("ROMEO:", 80, **settings) == Generator(model, ckpt.vocab).sample_text("ROMEO:", 80, **settings)

    fused = CharRNN(model.config, recurrence=Recurrence.fused(row_groups=1))
    assert CharRNN.from_config(fused.get_config()).recurrence == fused.recurrence  # the recurrence travels in the config too
    lines = io.StringIO()
    loaded.summary(print_fn=lambda line, **_: lines.write(line + "\n"))
    assert "lstm_0" in lines.getvalue() and f"{model.count_params():,}" in lines.getvalue()
