"""Checkpoints written before the current format still load and resume exactly.

tests/fixtures/v1_run/ was written by tfcharrnn at format 1 (commit 9ab456a): a 2x8 LSTM with
dropout and weight drop, trained 6 steps with --deterministic on tests/fixtures/v1_run/corpus.txt,
checkpointed at steps 3 and 6. Format 1 kept the carried state and the random streams inside
optimizer.npz; format 2 keeps them in run_state.npz. The fixture's numbers come from another
machine, so they are compared within a few float32 ulps; bit-exact resume is checked on the
machine at hand.
"""

import dataclasses
import json
import os
import shutil

import numpy as np

from tfcharrnn import checkpoint as ckpt_lib
from tfcharrnn.training import TrainConfig, Trainer, train

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "v1_run")
STEP3 = os.path.join(FIXTURE, "cv", "lm_lstm_epoch0.04_3.9939")
STEP6 = os.path.join(FIXTURE, "cv", "lm_lstm_epoch0.07_3.9890")


def test_a_format_1_checkpoint_loads_with_its_run_arrays_apart():
    ckpt = ckpt_lib.load_checkpoint(STEP3)
    assert json.load(open(os.path.join(STEP3, "meta.json")))["format_version"] == 1
    assert ckpt.train_state["step"] == 3 and ckpt.config.weight_drop == 0.1
    assert not ckpt.config.skip_connections  # written before the field: its output layer reads the top layer only
    assert all(k.isdigit() for k in ckpt.optimizer)
    assert sorted(ckpt.run_arrays) == ["carry_state", "rng_0000", "rng_0001", "rng_0002"]
    assert ckpt.run_arrays["carry_state"].shape == (4, 4, 8)  # batch 4, (h, c) x 2 layers, 8 units


def fixture_config(tmp_path, **overrides):
    """The flags the fixture was trained with, on a copy of its corpus, writing under tmp_path."""
    shutil.copy(os.path.join(FIXTURE, "corpus.txt"), tmp_path / "corpus.txt")
    saved = ckpt_lib.load_checkpoint(STEP3).train_state["train_config"]
    return dataclasses.replace(TrainConfig.from_dict(saved), train_data=str(tmp_path / "corpus.txt"), quiet=True,
                               train_path="step-groups", **overrides)  # the path 9ab456a trained on


def assert_close_to_fixture(got, want, learning_rate, name):
    """Float arrays within 4 float32 ulps of the fixture's (rtol 4 x 2^-23), plus 4 ulps of the learning
    rate (the size of one step) for values near zero; integer arrays (random streams) equal. The
    fixture was computed on an AVX-512 machine: another CPU rounds a few sums differently (seen: 2 of
    220 embedding values one ulp apart on an AVX2 machine), while a wrong step, a lost carried state
    or a restarted random stream moves the weights by about the learning rate."""
    if np.issubdtype(want.dtype, np.integer):
        np.testing.assert_array_equal(got, want, err_msg=name)
    else:
        np.testing.assert_allclose(got, want, rtol=4 * np.finfo(np.float32).eps, atol=4 * np.spacing(np.float32(learning_rate)),
                                   err_msg=name)


def test_resuming_a_format_1_checkpoint_continues_as_the_old_code_did(tmp_path, monkeypatch):
    """Steps 4-6 from the old step-3 checkpoint, by today's code, give the old code's step-6 weights
    and run arrays (within a few ulps: the fixture comes from another machine), written in today's format.
    The old code's first layer always read its input as a lookup in the (V, G) table; today's reads the
    embedded rows where the vocabulary (here 55 characters) outnumbers a row group's (row, step) pairs
    (here 32), the same function summed in another order (~1e-7 apart after three steps: more than
    the ulps compared here), so the table is asked for, as the fixture was made."""
    from tfcharrnn.recurrence import Recurrence

    monkeypatch.setattr(Recurrence, "_table_is_smaller", lambda self, embedding, ids: True)
    cfg = fixture_config(tmp_path, checkpoint_dir=str(tmp_path / "cv"), init_from=STEP3)
    trainer = Trainer(cfg)
    assert trainer.state.step == 3 and trainer.carry is not None
    result = trainer.run()
    assert result["step"] == 6
    expected = ckpt_lib.load_checkpoint(STEP6)
    written = ckpt_lib.load_checkpoint(result["checkpoint"])
    assert json.load(open(os.path.join(result["checkpoint"], "meta.json")))["format_version"] == ckpt_lib.FORMAT_VERSION
    assert os.path.isfile(os.path.join(result["checkpoint"], ckpt_lib.RUN_STATE))
    assert sorted(written.weights) == sorted(expected.weights) and sorted(written.run_arrays) == sorted(expected.run_arrays)
    for name, value in expected.weights.items():
        assert_close_to_fixture(written.weights[name], value, cfg.learning_rate, name)
    for key, value in expected.run_arrays.items():
        assert_close_to_fixture(written.run_arrays[key], value, cfg.learning_rate, key)


def test_the_fixture_run_resumed_on_this_machine_is_bit_exact(tmp_path):
    """On one machine resume is exact to the bit: the fixture's flags, 6 steps straight (checkpoints at
    steps 3 and 6) against the same run's step-3 checkpoint resumed to step 6."""
    straight = train(fixture_config(tmp_path, checkpoint_dir=str(tmp_path / "straight")))
    step3 = next(path for path, meta in ckpt_lib.list_checkpoints(str(tmp_path / "straight")) if meta["train_state"]["step"] == 3)
    resumed = train(fixture_config(tmp_path, checkpoint_dir=str(tmp_path / "resumed"), init_from=step3))
    assert straight["step"] == resumed["step"] == 6
    a, b = ckpt_lib.load_checkpoint(straight["checkpoint"]), ckpt_lib.load_checkpoint(resumed["checkpoint"])
    for kind in ("weights", "optimizer", "run_arrays"):
        assert sorted(getattr(a, kind)) == sorted(getattr(b, kind)), kind
        for name, value in getattr(a, kind).items():
            np.testing.assert_array_equal(getattr(b, kind)[name], value, err_msg=f"{kind} {name}")
