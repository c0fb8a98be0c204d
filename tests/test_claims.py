"""Claims of the README and docs that had no test (issue 17): each test here fails without its claim.

- pointer files (latest.json / best.json) may only name a checkpoint inside their run directory;
- `scripts/sample.py --length 0` prints an empty sample and exits 0, from a checkpoint and from a
  .tflite (the SavedModel's max_new_chars 0: tests/test_serving_session.py);
- `scripts/export.py --quantize float16` writes half-size float16 weights that still sample;
- the cosine schedule's time-budget branch: the learning rate reaches its floor when the budget ends;
- `--strategy tpu` on a machine without a TPU (TPUStrategy itself cannot run here).
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


# --- --quantize float16 --------------------------------------------------------------------------


def test_export_cli_quantize_float16(tiny_checkpoint, tiny_saved_model, tmp_path, capsys):
    pytest.importorskip("ai_edge_litert")
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


def test_an_unknown_quantize_is_refused_before_anything_is_written(tiny_checkpoint, tmp_path):
    from tfcharrnn.errors import UserError
    from tfcharrnn.export import export_checkpoint

    with pytest.raises(UserError, match="--quantize 'int4' is not known"):
        export_checkpoint(tiny_checkpoint, "q", base_dir=str(tmp_path), quantize="int4", warmup=False)
    assert not os.path.exists(tmp_path / "q")  # refused before the version directory was even made


# --- the cosine schedule over a time budget ------------------------------------------------------


def test_cosine_schedule_over_a_time_budget():
    from tfcharrnn.training import TrainConfig, learning_rate

    cfg = TrainConfig(learning_rate=1.0, lr_schedule="cosine", time_budget=2.0, max_epochs=0, min_lr_frac=0.1)
    assert learning_rate(cfg, 0, 0.0, 0.0) == pytest.approx(1.0)
    assert learning_rate(cfg, 50, 0.3, 60.0) == pytest.approx(0.55)  # half the budget gone: half-way down
    assert learning_rate(cfg, 90, 0.5, 120.0) == pytest.approx(0.1)  # the budget's end: the floor
    assert learning_rate(cfg, 99, 0.6, 500.0) == pytest.approx(0.1)  # past it (the last step ends late): stays there
    both = dataclasses.replace(cfg, max_epochs=4.0)  # whichever limit is further along decides
    assert learning_rate(both, 10, 2.0, 30.0) == pytest.approx(0.55)
    assert learning_rate(both, 10, 1.0, 60.0) == pytest.approx(0.55)


def test_a_time_budgeted_run_ends_at_its_floor_learning_rate(small_corpus, tmp_path):
    """metrics.jsonl records every step's learning rate: the first is the peak, the last (just before the
    budget ran out) near the floor. The step is traced before the run, so the budget is spent training."""
    import tensorflow as tf

    from tfcharrnn.training import Trainer

    cfg = tiny_config(small_corpus, tmp_path, max_steps=0, max_epochs=0, time_budget=0.04, iters_to_report=1, min_lr_frac=0.05)
    trainer = Trainer(cfg)
    x, y = next(iter(trainer.train_batches(0)))
    trainer.train_step(x, y, trainer.model.initial_state(cfg.batch_size), tf.constant(cfg.learning_rate, tf.float32))  # trace now
    result = trainer.run()
    assert "time_budget" in result["stop_reason"] and result["elapsed_s"] >= 0.04 * 60
    lrs = [r["learning_rate"] for r in map(json.loads, open(tmp_path / "metrics.jsonl")) if r["kind"] == "train"]
    floor, peak = cfg.learning_rate * cfg.min_lr_frac, cfg.learning_rate
    assert len(lrs) >= 5 and lrs[0] > 0.85 * peak  # the first step starts near the peak (setting up the data takes a moment)
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))  # it only goes down
    assert lrs[-1] - floor < 0.15 * (peak - floor), (lrs, floor)  # the last step's rate: (nearly) the floor
    assert math.isfinite(result["val_loss"])


# --- --strategy tpu ------------------------------------------------------------------------------


def test_strategy_tpu_without_a_tpu_is_a_clear_error(monkeypatch):
    """TPUStrategy itself cannot run on these machines (no TPU): what can is the error a machine without one gets."""
    from tfcharrnn.training import make_strategy

    monkeypatch.delenv("TPU_NAME", raising=False)
    with pytest.raises(UserError, match=r"--strategy tpu: no TPU found \(.*\); run on a TPU VM or pick another strategy"):
        make_strategy("tpu")
