"""Checkpoints written before the current format still load and resume exactly.

tests/fixtures/v1_run/ was written by tfcharrnn at format 1 (commit 9ab456a): a 2x8 LSTM with
dropout and weight drop, trained 6 steps with --deterministic on tests/fixtures/v1_run/corpus.txt,
checkpointed at steps 3 and 6. Format 1 kept the carried state and the random streams inside
optimizer.npz; format 2 keeps them in run_state.npz.
"""

import dataclasses
import json
import os
import shutil

import numpy as np

from tfcharrnn import checkpoint as ckpt_lib
from tfcharrnn.training import TrainConfig, Trainer

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "v1_run")
STEP3 = os.path.join(FIXTURE, "cv", "lm_lstm_epoch0.04_3.9939")
STEP6 = os.path.join(FIXTURE, "cv", "lm_lstm_epoch0.07_3.9890")


def test_a_format_1_checkpoint_loads_with_its_run_arrays_apart():
    ckpt = ckpt_lib.load_checkpoint(STEP3)
    assert json.load(open(os.path.join(STEP3, "meta.json")))["format_version"] == 1
    assert ckpt.train_state["step"] == 3 and ckpt.config.weight_drop == 0.1
    assert all(k.isdigit() for k in ckpt.optimizer)
    assert sorted(ckpt.run_arrays) == ["carry_state", "rng_0000", "rng_0001", "rng_0002"]
    assert ckpt.run_arrays["carry_state"].shape == (4, 4, 8)  # batch 4, (h, c) x 2 layers, 8 units


def test_resuming_a_format_1_checkpoint_continues_exactly(tmp_path):
    """Steps 4-6 from the old step-3 checkpoint, by today's code, give the old code's step-6 weights."""
    shutil.copy(os.path.join(FIXTURE, "corpus.txt"), tmp_path / "corpus.txt")
    saved = ckpt_lib.load_checkpoint(STEP3).train_state["train_config"]
    cfg = dataclasses.replace(TrainConfig.from_dict(saved), train_data=str(tmp_path / "corpus.txt"), checkpoint_dir=str(tmp_path / "cv"),
                              init_from=STEP3, quiet=True, train_path="step-groups")  # the path 9ab456a trained on
    trainer = Trainer(cfg)
    assert trainer.state.step == 3 and trainer.carry is not None
    result = trainer.run()
    assert result["step"] == 6
    expected = ckpt_lib.load_checkpoint(STEP6)
    for name, value in ckpt_lib.model_arrays(trainer.model).items():
        np.testing.assert_array_equal(value, expected.weights[name], err_msg=name)
    written = ckpt_lib.load_checkpoint(result["checkpoint"])  # and today's format holds the same arrays
    assert json.load(open(os.path.join(result["checkpoint"], "meta.json")))["format_version"] == ckpt_lib.FORMAT_VERSION
    assert os.path.isfile(os.path.join(result["checkpoint"], ckpt_lib.RUN_STATE))
    for key, value in expected.run_arrays.items():
        np.testing.assert_array_equal(written.run_arrays[key], value, err_msg=key)
