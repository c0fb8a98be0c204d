"""scripts/evaluate.py and tfcharrnn.evaluate: exact per-character loss of a model on a text file."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import tiny_config
from tfcharrnn import evaluate as ev
from tfcharrnn.checkpoint import load_checkpoint
from tfcharrnn.cli import evaluate as cli
from tfcharrnn.errors import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def held_out(shakespeare_text):
    return shakespeare_text[100_000:101_500]  # beyond the 60k the tiny checkpoint trained on


@pytest.fixture(scope="module")
def scorer(tiny_checkpoint):
    return ev.load_scorer(tiny_checkpoint)


def reference_loss(run_dir, text):
    """-mean ln p(c_i | c_<i), i >= 1: the model called once on the whole text, no chunking."""
    ckpt = load_checkpoint(run_dir, with_optimizer=False)
    ids = ckpt.vocab.encode(text).astype(np.int32)
    logits, _ = ckpt.model(ids[None, :-1], ckpt.model.initial_state(1))
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=ids[None, 1:], logits=logits)
    return float(tf.reduce_mean(tf.cast(ce, tf.float64)))


def test_exact_loss_one_stream(tiny_checkpoint, scorer, held_out):
    want = reference_loss(tiny_checkpoint, held_out)
    for chunk in (2048, 97, 1):  # the carried state makes the chunk length irrelevant
        r = ev.evaluate_text(scorer, held_out[:300] if chunk == 1 else held_out, chunk_length=chunk)
        if chunk == 1:
            assert r["nats_per_char"] == pytest.approx(reference_loss(tiny_checkpoint, held_out[:300]), abs=1e-5)
            continue
        assert r["nats_per_char"] == pytest.approx(want, abs=1e-5)
        assert r["scored"] == len(held_out) - 1 and r["rows"] == 1 and r["unit"] == "char"
        assert r["bits_per_char"] == pytest.approx(want / math.log(2))
        assert r["perplexity"] == pytest.approx(math.exp(want))


def test_rows_score_every_position(scorer, held_out):
    one = ev.evaluate_text(scorer, held_out)
    four = ev.evaluate_text(scorer, held_out, rows=4, chunk_length=100)
    assert four["rows"] == 4 and four["scored"] == one["scored"]
    assert abs(four["nats_per_char"] - one["nats_per_char"]) < 0.05  # only each segment's start lacks context
    assert ev.evaluate_text(scorer, "abc", rows=50)["rows"] == 2  # never more rows than predictions


def test_unknown_characters_are_skipped_and_reported(scorer, held_out):
    clean = ev.evaluate_text(scorer, held_out)
    dirty_text = "\u20ac" + held_out[:400] + "\u00e4\u20ac" + held_out[400:] + "\u6708"
    dirty = ev.evaluate_text(scorer, dirty_text)
    assert dirty["unknown_count"] == 4 and dirty["unknown_chars"] == ["\u20ac", "\u00e4", "\u6708"]
    assert dirty["chars"] == len(held_out) + 4 and dirty["scored"] == clean["scored"]
    assert dirty["nats_per_char"] == pytest.approx(clean["nats_per_char"], abs=1e-9)  # as if they were not there
    with pytest.raises(UserError, match="at least 2"):
        ev.evaluate_text(scorer, "\u20ac\u20acA")


def test_saved_model_matches_checkpoint(tiny_checkpoint, scorer, held_out, tmp_path):
    from tfcharrnn.export import export_checkpoint

    info = export_checkpoint(tiny_checkpoint, "tiny", base_dir=str(tmp_path), tflite=False, warmup=False)
    sm = ev.load_scorer(str(tmp_path / "tiny"))  # the model base dir: its highest version
    assert sm.kind == "saved_model" and sm.path == info["path"]
    assert sm.vocab == scorer.vocab
    text = held_out[:600] + "\u20ac" + held_out[600:900]
    a = ev.evaluate_text(scorer, text)
    b = ev.evaluate_text(sm, text, chunk_length=128)
    assert b["nats_per_char"] == pytest.approx(a["nats_per_char"], abs=1e-5)
    assert (b["scored"], b["unknown_count"]) == (a["scored"], a["unknown_count"]) == (899, 1)
    c = ev.evaluate_text(sm, text, rows=3)
    d = ev.evaluate_text(scorer, text, rows=3)
    assert c["nats_per_char"] == pytest.approx(d["nats_per_char"], abs=1e-5)


def test_byte_mode_model_reads_raw_bytes(small_corpus, tmp_path):
    from tfcharrnn.training import train

    train(tiny_config(small_corpus, tmp_path / "bytes", byte_mode=True, max_steps=2, hidden_size=16, num_layers=1))
    path = tmp_path / "utf8.txt"
    path.write_text("Caf\u00e9 na\u00efve: ROMEO speaks.\n", encoding="utf-8")
    r = ev.evaluate_file(str(tmp_path / "bytes"), str(path))
    assert r["unit"] == "byte" and r["chars"] == len(path.read_bytes())
    assert r["unknown_count"] == 4  # the UTF-8 bytes of e-acute and i-diaeresis never occur in the corpus


def test_cli_table_and_json(tiny_checkpoint, held_out, tmp_path, capsys):
    path = tmp_path / "held_out.txt"
    path.write_text(held_out + "\u20ac", encoding="utf-8")
    assert cli.main([tiny_checkpoint, str(path)]) == 0
    table = capsys.readouterr().out
    for word in ("nats/char", "bits/char", "perplexity", "unknown", "1 char(s) not in the vocabulary", "'\u20ac'", "one stream"):
        assert word in table, table
    assert cli.main([tiny_checkpoint, str(path), "--json", "--rows", "2"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["rows"] == 2 and result["unknown_chars"] == ["\u20ac"] and result["file"] == str(path)
    assert result["bits_per_char"] == pytest.approx(result["nats_per_char"] / math.log(2))


def test_cli_encoding(tiny_checkpoint, tmp_path, capsys):
    path = tmp_path / "latin1.txt"
    path.write_bytes("First Citizen: caf\u00e9\n".encode("latin-1"))
    with pytest.raises(UserError, match="not valid utf-8 text.*--encoding"):
        cli.main([tiny_checkpoint, str(path)])
    assert cli.main([tiny_checkpoint, str(path), "--encoding", "latin-1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["unknown_chars"] == ["\u00e9"]
    with pytest.raises(UserError, match="unknown --encoding"):
        cli.main([tiny_checkpoint, str(path), "--encoding", "klingon"])


@pytest.mark.parametrize("case, message", [
    ("missing_file", "does not exist"),
    ("empty_file", "is empty"),
    ("directory", "is a directory"),
    ("missing_model", "does not exist"),
    ("not_a_model", "holds no tfcharrnn checkpoint"),
    ("bad_rows", "--rows must be a positive integer"),
    ("bad_flag", "unrecognized arguments"),
])
def test_cli_bad_input(tiny_checkpoint, tmp_path, case, message):
    text = tmp_path / "t.txt"
    text.write_text("First Citizen:\n", encoding="utf-8")
    model, file, extra = tiny_checkpoint, str(text), []
    if case == "missing_file":
        file = str(tmp_path / "nope.txt")
    elif case == "empty_file":
        (tmp_path / "e.txt").write_text("")
        file = str(tmp_path / "e.txt")
    elif case == "directory":
        file = str(tmp_path)
    elif case == "missing_model":
        model = str(tmp_path / "no_model")
    elif case == "not_a_model":
        (tmp_path / "empty_dir").mkdir()
        model = str(tmp_path / "empty_dir")
    elif case == "bad_rows":
        extra = ["--rows", "0"]
    elif case == "bad_flag":
        extra = ["--bogus"]
    with pytest.raises(UserError, match=message):
        cli.main([model, file, *extra])


def test_script_one_line_error(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    p = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "evaluate.py"), str(tmp_path), str(tmp_path / "missing.txt")],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 2
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "does not exist" in lines[0], p.stderr
