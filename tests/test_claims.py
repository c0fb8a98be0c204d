"""Claims of the README and docs that had no test (issue 17): each test here fails without its claim.

- pointer files (latest.json / best.json) may only name a checkpoint inside their run directory;
- `scripts/sample.py --length 0` prints an empty sample and exits 0, from a checkpoint and from a
  .tflite (the SavedModel's max_new_chars 0: tests/test_serving_session.py);
- `scripts/export.py --quantize float16` writes half-size float16 weights that still sample;
- the cosine schedule's time-budget branch: the learning rate reaches its floor when the budget ends.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import tiny_config
from tfcharrnn import checkpoint as ckpt_lib
from tfcharrnn.errors import UserError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --- pointers stay inside their run directory --------------------------------------------------


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


# --- --length 0 --------------------------------------------------------------------------------


def test_length_zero_is_an_empty_sample_from_a_checkpoint(tiny_checkpoint, capsys):
    from tfcharrnn.checkpoint import load_checkpoint
    from tfcharrnn.cli.sample import main as sample_main
    from tfcharrnn.sampling import Generator

    ckpt = load_checkpoint(tiny_checkpoint, with_optimizer=False)
    assert Generator(ckpt.model, ckpt.vocab).sample_text("", 0, seed=3, num_samples=2) == ["", ""]
    assert sample_main([tiny_checkpoint, "--length", "0", "--prime", "ROMEO:"]) == 0
    assert capsys.readouterr().out == "ROMEO:\n"  # the prime, then nothing
    assert sample_main([tiny_checkpoint, "--length", "0", "--num_samples", "2", "--print_prime", "false"]) == 0
    assert capsys.readouterr().out == "==== sample 1 (seed 123) ====\n\n==== sample 2 (seed 124) ====\n\n"
    with pytest.raises(UserError, match="never saw"):  # the prime is still checked
        sample_main([tiny_checkpoint, "--length", "0", "--prime", "\u2603"])


def test_length_zero_is_an_empty_sample_from_a_tflite(tiny_saved_model):
    """scripts/sample.py itself (a process: exit status and stdout) on the exported .tflite."""
    script = os.path.join(REPO, "scripts", "sample.py")
    proc = subprocess.run([sys.executable, script, tiny_saved_model["tflite"], "--length", "0", "--prime", "ROMEO:"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout == "ROMEO:\n"
    proc = subprocess.run([sys.executable, script, tiny_saved_model["tflite"], "--length", "0", "--num_samples", "2"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout == "==== sample 1 (seed 123) ====\n\n==== sample 2 (seed 124) ====\n\n"
