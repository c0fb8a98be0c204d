"""Checkpoint files: reload exactly, names, pruning, pointers that stay inside their run directory,
and files that are truncated, corrupted, of another kind or not ours refused with a clear error."""

import json
import os
import shutil

import numpy as np
import pytest

from conftest import tiny_config
from tfcharrnn import checkpoint as ckpt_lib
from tfcharrnn.errors import UserError
from tfcharrnn.training import checkpoint_name, train


def test_checkpoint_reload_gives_identical_logits(tiny_checkpoint):
    ckpt = ckpt_lib.load_checkpoint(tiny_checkpoint)
    again = ckpt_lib.load_checkpoint(ckpt.path)
    ids = ckpt.vocab.encode("ROMEO: What light").astype(np.int32)[None, :]
    a, _ = ckpt.model(ids)
    b, _ = again.model(ids)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert ckpt.train_state["step"] == 30
    assert os.path.basename(ckpt.path).startswith("lm_lstm_epoch")


def test_run_directory_pointers(tiny_checkpoint):
    latest = json.load(open(os.path.join(tiny_checkpoint, "latest.json")))
    best = json.load(open(os.path.join(tiny_checkpoint, "best.json")))
    assert os.path.isdir(os.path.join(tiny_checkpoint, latest["checkpoint"]))
    assert os.path.isdir(os.path.join(tiny_checkpoint, best["checkpoint"]))
    assert ckpt_lib.resolve_checkpoint(tiny_checkpoint) == os.path.join(tiny_checkpoint, best["checkpoint"])


def test_checkpoint_name_like_char_rnn():
    assert checkpoint_name("lstm", 0.95, 2.06812) == "lm_lstm_epoch0.95_2.0681"
    assert checkpoint_name("gru", 3, None) == "lm_gru_epoch3.00_noval"


def test_keep_best_prunes(small_corpus, tmp_path):
    train(tiny_config(small_corpus, tmp_path, max_steps=25, eval_val_every=5, keep_best=2))
    names = [p for p, _ in ckpt_lib.list_checkpoints(str(tmp_path))]
    assert 2 <= len(names) <= 3  # the two best, plus latest if it is not among them


def test_corrupted_checkpoints_are_clear_errors(tiny_checkpoint, tmp_path):
    src = ckpt_lib.resolve_checkpoint(tiny_checkpoint)
    bad = tmp_path / "bad"
    shutil.copytree(src, bad)
    with open(bad / "weights.npz", "r+b") as f:
        f.truncate(100)
    with pytest.raises(UserError, match="corrupted or truncated"):
        ckpt_lib.load_checkpoint(str(bad))
    (bad / "meta.json").write_text("{nope")
    with pytest.raises(UserError, match="corrupted"):
        ckpt_lib.load_checkpoint(str(bad))
    (bad / "meta.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(UserError, match="not a tfcharrnn checkpoint"):
        ckpt_lib.load_checkpoint(str(bad))
    with pytest.raises(UserError, match="does not exist"):
        ckpt_lib.load_checkpoint(str(tmp_path / "nowhere"))


def test_other_model_kind_weights_are_refused(tiny_checkpoint, tmp_path):
    src = ckpt_lib.resolve_checkpoint(tiny_checkpoint)
    dst = tmp_path / "gru"
    shutil.copytree(src, dst)
    meta = json.loads((dst / "meta.json").read_text())
    meta["config"]["model"] = "gru"
    (dst / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match="another model kind"):
        ckpt_lib.load_checkpoint(str(dst)).model


# --- pointers stay inside their run directory ---------------------------------------------------


@pytest.mark.parametrize("name", ["..", ".", "absolute", "symlink leaving the directory"])
def test_a_pointer_naming_something_outside_its_run_directory_is_refused(tiny_checkpoint, tmp_path, name):
    """The run directory sits inside another checkpoint (``outside``): a pointer naming ".." would load it."""
    outside = tmp_path / "outside"
    shutil.copytree(ckpt_lib.resolve_checkpoint(tiny_checkpoint), outside)  # a real checkpoint, not in the run
    run = outside / "run"
    run.mkdir()
    if name == "absolute":
        name = str(outside)
    elif name == "symlink leaving the directory":
        (run / "lm_lstm_epoch9.00_1.0000").symlink_to(outside, target_is_directory=True)
        name = "lm_lstm_epoch9.00_1.0000"
    for pointer in ("latest", "best"):
        ckpt_lib.write_pointer(str(run), pointer, name)
    with pytest.raises(UserError, match="outside its run directory; the file was tampered with"):
        ckpt_lib.read_pointer(str(run), "latest")
    with pytest.raises(UserError, match="outside its run directory"):
        ckpt_lib.load_checkpoint(str(run))  # what scripts/sample.py cv/ and --resume do


def test_a_pointer_to_a_checkpoint_inside_the_run_still_works(tiny_checkpoint, tmp_path):
    """The check refuses only what leaves the directory: a plain name and a symlink within the run are fine."""
    run = tmp_path / "run"
    shutil.copytree(ckpt_lib.resolve_checkpoint(tiny_checkpoint), run / "lm_lstm_epoch0.50_3.0000")
    (run / "alias").symlink_to(run / "lm_lstm_epoch0.50_3.0000", target_is_directory=True)
    ckpt_lib.write_pointer(str(run), "latest", "lm_lstm_epoch0.50_3.0000")
    ckpt_lib.write_pointer(str(run), "best", "alias")
    assert ckpt_lib.read_pointer(str(run), "latest") == str(run / "lm_lstm_epoch0.50_3.0000")
    assert ckpt_lib.load_checkpoint(str(run), with_optimizer=False).path == str(run / "alias")


@pytest.mark.parametrize("bad", [7, None, "", "a/b"])
def test_a_pointer_with_a_name_that_is_not_one_entry_is_refused(tmp_path, bad):
    (tmp_path / "latest.json").write_text(json.dumps({"checkpoint": bad}))
    with pytest.raises(UserError, match="outside its run directory"):
        ckpt_lib.read_pointer(str(tmp_path), "latest")


# --- nothing is ever unpickled ---------------------------------------------------------------


@pytest.mark.parametrize("fname", ["weights.npz", "optimizer.npz", "run_state.npz"])
def test_a_checkpoint_holding_a_pickle_is_refused_and_nothing_runs(tiny_checkpoint, tmp_path, fname):
    """One array of the file replaced by a pickled object whose loading creates a marker file (and the
    checksum updated to match): loading refuses the checkpoint with a clear error and runs nothing."""
    from helpers.checkpoint_files import npz_bytes, replace_file
    from helpers.pickles import hostile_array

    marker = tmp_path / "executed"
    bad = tmp_path / "bad"
    shutil.copytree(ckpt_lib.resolve_checkpoint(tiny_checkpoint), bad)
    arrays = dict(np.load(bad / fname))
    arrays[next(iter(arrays), "extra")] = hostile_array(marker)
    replace_file(bad, fname, npz_bytes(arrays, allow_pickle=True))
    with pytest.raises(UserError, match=rf"checkpoint .* is corrupted \({fname} cannot be read\); use another checkpoint"):
        ckpt_lib.load_checkpoint(str(bad))
    assert not marker.exists()
    with np.load(bad / fname, allow_pickle=True) as z:  # the payload is live: a loader that unpickles runs it
        [z[k] for k in z.files]
    assert marker.exists()

