"""tfds: corpora through the real TensorFlow Datasets builder, offline.

The tiny_shakespeare source file is placed where TFDS's download manager looks for a manually
downloaded copy (DATA_DIR/downloads/manual/input.txt, the file name registered in the builder's
checksums.tsv); TFDS checks its size and SHA-256 against the registered ones and prepares the
splits from it. Every test runs with sockets refusing to connect, so an attempted download fails
the test instead of reaching out.
"""

import os
import shutil
import socket

import numpy as np
import pytest

from conftest import tiny_config
from tfcharrnn import tfds_source
from tfcharrnn.data import BUNDLED
from tfcharrnn.errors import UserError

SHAKESPEARE = BUNDLED  # the package's copy: the very file TFDS registers (checked below)

REGISTERED_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(self, address, *args, **kwargs):
        raise AssertionError(f"test tried to open a network connection to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setenv(tfds_source.OFFLINE_ENV, "1")


@pytest.fixture(scope="module")
def source_text():
    with open(SHAKESPEARE, encoding="utf-8") as f:
        text = f.read()
    import hashlib

    with open(SHAKESPEARE, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == REGISTERED_SHA256, f"{SHAKESPEARE} is not the file TFDS registers"
    return text


@pytest.fixture(scope="module")
def prepared_dir(tmp_path_factory, source_text):
    """A TFDS data dir with tiny_shakespeare prepared from the placed file (once per module)."""
    data_dir = tmp_path_factory.mktemp("tfds")
    manual = data_dir / "downloads" / "manual"
    manual.mkdir(parents=True)
    shutil.copyfile(SHAKESPEARE, manual / "input.txt")
    mp = pytest.MonkeyPatch()
    mp.setattr(socket.socket, "connect", lambda self, address, *a, **k: pytest.fail(f"network attempt to {address!r}"))
    try:
        text, description = tfds_source.load_tfds_text("tfds:tiny_shakespeare", data_dir=str(data_dir), download=False)
    finally:
        mp.undo()
    assert text == source_text
    return str(data_dir)


def test_spec_parsing():
    p = tfds_source.parse_spec
    assert p("tfds:tiny_shakespeare") == tfds_source.TfdsSpec("tiny_shakespeare")
    assert p("tfds:wiki40b:en/text@train[:1%]+test") == tfds_source.TfdsSpec("wiki40b", "en", "text", ("train[:1%]", "test"))
    assert p("tfds:ds/document/text").feature == "document/text"
    assert str(p("tfds:wiki40b:en/text@train+test")) == "tfds:wiki40b:en/text@train+test"
    assert tfds_source.is_tfds_spec("tfds:x") and not tfds_source.is_tfds_spec("input.txt") and not tfds_source.is_tfds_spec(None)
    for bad in ("tfds:", "tfds:Foo", "tfds:x@", "tfds:x/", "tfds:x:", "tfds:x@train[", "tfds:a b"):
        with pytest.raises(UserError):
            p(bad)


def test_prepared_splits_match_the_file(prepared_dir, source_text):
    """The builder cuts input.txt at int(0.9 n) and int(0.5 rest): check each split against the file."""
    import tensorflow_datasets as tfds

    builder = tfds.builder("tiny_shakespeare", data_dir=prepared_dir)
    assert builder.is_prepared()
    n = len(source_text)
    i = int(n * 0.9)
    j = i + int((n - i) * 0.5)
    expected = {"train": source_text[:i], "validation": source_text[i:j], "test": source_text[j:]}
    for split, want in expected.items():
        examples = [ex["text"].decode("utf-8") for ex in tfds.as_numpy(builder.as_dataset(split=split))]
        assert examples == [want], split
    assert builder.info.splits["train"].num_examples == 1


def test_load_concatenates_splits_in_order(prepared_dir, source_text):
    text, description = tfds_source.load_tfds_text("tfds:tiny_shakespeare", data_dir=prepared_dir, download=False)
    assert text == source_text  # train + validation + test, joined with nothing, is the file
    assert "train 1 example(s) / 1,003,854 chars" in description and "feature 'text'" in description
    text, _ = tfds_source.load_tfds_text("tfds:tiny_shakespeare/text@test+validation", data_dir=prepared_dir)
    n = len(source_text)
    i = int(n * 0.9)
    j = i + int((n - i) * 0.5)
    assert text == source_text[j:] + source_text[i:j]
    text, _ = tfds_source.load_tfds_text("tfds:tiny_shakespeare@train", data_dir=prepared_dir, separator="|")
    assert text == source_text[:i]


def test_load_corpus_tfds_branch(prepared_dir, source_text, monkeypatch):
    """--train_data tfds:tiny_shakespeare through data.load_corpus (data dir from $TFDS_DATA_DIR)."""
    from tfcharrnn.data import encode_text, load_corpus

    monkeypatch.setenv("TFDS_DATA_DIR", prepared_dir)
    corpus = load_corpus("tfds:tiny_shakespeare", val_frac=0.05, test_frac=0.05)
    vocab, ids = encode_text(source_text)
    assert corpus.vocab == vocab
    np.testing.assert_array_equal(np.concatenate([corpus.train, corpus.val, corpus.test]), ids)
    assert corpus.paths == ["tfds:tiny_shakespeare"]
    # tfcharrnn's 90/5/5 split lands within a character of TFDS's own.
    assert abs(len(corpus.train) - int(len(source_text) * 0.9)) <= 1


def test_train_from_tfds(prepared_dir, tmp_path, monkeypatch):
    from tfcharrnn.training import train

    monkeypatch.setenv("TFDS_DATA_DIR", prepared_dir)
    result = train(tiny_config("tfds:tiny_shakespeare@validation", tmp_path / "run", max_steps=3, hidden_size=16, num_layers=1))
    assert result["step"] == 3 and result["val_loss"] is not None and os.path.isdir(result["checkpoint"])


def test_not_downloaded_is_a_user_error(tmp_path):
    with pytest.raises(UserError) as e:
        tfds_source.load_tfds_text("tfds:tiny_shakespeare", data_dir=str(tmp_path), download=False)
    message = str(e.value)
    assert "not downloaded" in message and "input.txt" in message and "or run with network" in message
    assert os.path.join(str(tmp_path), "downloads", "manual") in message
    # The offline switch from the environment says the same, with no network attempt.
    with pytest.raises(UserError, match="not downloaded.*TFCHARRNN_TFDS_OFFLINE=1"):
        tfds_source.load_tfds_text("tfds:tiny_shakespeare", data_dir=str(tmp_path))


def test_wrong_manual_file_is_a_user_error(tmp_path, source_text):
    manual = tmp_path / "downloads" / "manual"
    manual.mkdir(parents=True)
    (manual / "input.txt").write_text(source_text[:1000], encoding="utf-8")
    with pytest.raises(UserError, match="does not match TFDS's registered size/checksum.*input.txt"):
        tfds_source.load_tfds_text("tfds:tiny_shakespeare", data_dir=str(tmp_path), download=False)
    assert not (tmp_path / "tiny_shakespeare" / "1.0.0").exists()


@pytest.mark.parametrize("spec, message", [
    ("tfds:tiny_shakespear", "no dataset 'tiny_shakespear'; did you mean tiny_shakespeare"),
    ("tfds:tiny_shakespeare/words", "no feature 'words'; text features: text"),
    ("tfds:tiny_shakespeare:big", "no config 'big'"),
    ("tfds:tiny_shakespeare@dev", "no split 'dev'; its splits: train, validation, test"),
    ("tfds:tiny_shakespeare@train[:100]", "a slice counts examples"),
    ("tfds:wiki40b/en", "'en' is a config: write tfds:wiki40b:en"),
    ("tfds:imdb_reviews/label", "is ClassLabel, not text"),
])
def test_bad_specs(prepared_dir, spec, message):
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]")):
        tfds_source.load_tfds_text(spec, data_dir=prepared_dir, download=False)
