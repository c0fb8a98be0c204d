"""Shared fixtures: real text (a slice of Tiny Shakespeare) and one tiny trained checkpoint."""

import os
import sys

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tfcharrnn.data import BUNDLED  # noqa: E402

SHARED = os.path.join(ROOT, "..", "shared", "data", "tinyshakespeare.txt")
SHAKESPEARE = SHARED if os.path.exists(SHARED) else BUNDLED


@pytest.fixture(scope="session")
def shakespeare_text():
    with open(SHAKESPEARE, encoding="utf-8") as f:
        return f.read()


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory, shakespeare_text):
    """The first 60,000 characters of Tiny Shakespeare, as a file."""
    path = tmp_path_factory.mktemp("corpus") / "small.txt"
    path.write_text(shakespeare_text[:60_000], encoding="utf-8")
    return str(path)


def tiny_config(corpus, checkpoint_dir, **overrides):
    from tfcharrnn.training import TrainConfig

    kwargs = dict(train_data=corpus, hidden_size=32, num_layers=2, embedding_size=16, batch_size=8, seq_length=32,
                  max_steps=30, max_epochs=0, eval_val_every=0, sample_every=0, checkpoint_dir=str(checkpoint_dir),
                  quiet=True, seed=7, learning_rate=1e-2, train_path="step-groups",  # a fixed path: tests/test_autotune.py tests "auto"
                  dropout=0.0, weight_drop=0.0, weight_decay=0.0, optimizer="adam")  # fixed, not the recipe's: tests/test_recipe.py tests it
    kwargs.update(overrides)
    return TrainConfig(**kwargs)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, small_corpus):
    """A 2x32 LSTM trained for 30 steps on real text; returns the run directory."""
    from tfcharrnn.training import train

    run = tmp_path_factory.mktemp("run")
    train(tiny_config(small_corpus, run))
    return str(run)


@pytest.fixture(scope="session")
def tiny_saved_model(tmp_path_factory, tiny_checkpoint):
    """tiny_checkpoint exported as saved_models/tiny/1 with its .tflite (no warm-up file): export_checkpoint's summary
    ({"path": the version directory, "tflite": the .tflite, ...})."""
    from tfcharrnn.export import export_checkpoint

    return export_checkpoint(tiny_checkpoint, "tiny", base_dir=str(tmp_path_factory.mktemp("saved_models")), warmup=False)
