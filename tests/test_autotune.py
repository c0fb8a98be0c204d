"""Choosing the training path: timing picks the fastest candidate, caches the choice per machine
and shape, reuses the cache, and --train_path overrides it. Timing-free: the timings are injected."""

import json
import os

import numpy as np
import pytest

from conftest import tiny_config
from tfcharrnn import machine
from tfcharrnn.errors import UserError
from tfcharrnn.training import Trainer, train_path

TIMES = {"step-groups": 0.030, "layer-groups": 0.020, "whole-batch": 0.025, "xla": 0.040, "keras": 0.090}


class Counting:
    def __init__(self, times):
        self.times, self.calls = times, []

    def __call__(self, path):
        self.calls.append(path.name)
        return self.times[path.name]


def candidates():
    return [train_path.named(n) for n in train_path.FLOAT32_CANDIDATES]


def test_fastest_keeps_the_fastest_and_caches_it(tmp_path):
    cache = train_path.Cache(str(tmp_path))
    measure = Counting(TIMES)
    choice = train_path.fastest(candidates(), measure, "k", cache, load=None)
    assert choice.path.name == "layer-groups" and not choice.cached
    assert set(measure.calls) == set(TIMES) and measure.calls.count("keras") == 1  # 4.5x the best: measured once only
    assert json.load(open(cache.path))["k"]["path"] == "layer-groups"
    again = cache.lookup("k", candidates(), load=None)
    assert again.cached and again.path.name == "layer-groups" and "cached" in again.describe()
    other = train_path.fastest(candidates(), Counting({**TIMES, "xla": 0.001}), "another shape", cache, load=None)
    assert other.path.name == "xla" and json.load(open(cache.path))["k"]["path"] == "layer-groups"


def test_a_choice_made_on_a_busy_machine_is_measured_again_when_quiet(tmp_path):
    cache = train_path.Cache(str(tmp_path))
    train_path.fastest(candidates(), Counting(TIMES), "k", cache, load=3.5)
    assert json.load(open(cache.path))["k"]["busy_load"] == 3.5
    assert cache.lookup("k", candidates(), load=3.9).cached  # still busy: the busy measurement is the best there is
    assert cache.lookup("k", candidates(), load=None) is None  # quiet now: measure again


def test_a_damaged_cache_or_an_older_name_in_it(tmp_path):
    cache = train_path.Cache(str(tmp_path))
    os.makedirs(tmp_path, exist_ok=True)
    open(cache.path, "w").write("{not json")
    assert cache.lookup("k", candidates(), load=None) is None
    cache.put("k", {"path": "fused", "seconds": {"fused": 0.01, "xla": 0.02}, "busy_load": None})  # written before the rename
    older = cache.lookup("k", candidates(), load=None)
    assert older.path.name == "whole-batch" and older.seconds == {"whole-batch": 0.01, "xla": 0.02}


def test_one_core_collapses_the_row_groups(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    names = [p.name for p in train_path.distinct(candidates())]
    assert names == ["step-groups", "xla", "keras"]  # layer-groups and whole-batch are step-groups' code on one core


def test_machine_and_shape_keys_name_what_speed_depends_on(small_corpus, tmp_path):
    machine_desc = train_path.machine_key()
    assert {"cpu", "flags", "cores", "tensorflow"} <= set(machine_desc)
    cfg = tiny_config(small_corpus, tmp_path)
    from tfcharrnn.config import ModelConfig

    fields = {**cfg.model_fields(), "model": "lstm", "skip_connections": True}
    a = train_path.shape_key(cfg, ModelConfig(vocab_size=65, **fields))
    b = train_path.shape_key(cfg, ModelConfig(vocab_size=65, **{**fields, "hidden_size": 64}))
    c = train_path.shape_key(cfg, ModelConfig(vocab_size=65, **{**fields, "skip_connections": False}))
    assert len({train_path.Cache.key(machine_desc, key) for key in (a, b, c)}) == 3


@pytest.fixture
def injected(monkeypatch, tmp_path):
    """The trainer's step timer replaced by TIMES; the cache in a fresh directory."""
    monkeypatch.setenv("TFCHARRNN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(machine, "busy_load", lambda: None)
    built = []

    class FakeTimer(Counting):
        def __init__(self, cfg, model_config, dist, batch):
            super().__init__(TIMES)
            assert batch[0].shape == (cfg.batch_size, cfg.seq_length)  # the run's first batch
            built.append(self)

    monkeypatch.setattr(train_path, "StepTimer", FakeTimer)
    return built


@pytest.fixture
def pipelines(monkeypatch):
    """How many training pipelines (tf.data datasets) are built."""
    from tfcharrnn import data

    built = []
    for name in ("stream_dataset", "window_dataset"):
        real = getattr(data, name)
        monkeypatch.setattr(data, name, lambda *a, _real=real, **kw: built.append(1) or _real(*a, **kw))
    return built


def test_the_trainer_times_caches_and_says_so(small_corpus, tmp_path, injected, pipelines):
    lines = []
    trainer = Trainer(tiny_config(small_corpus, tmp_path / "a", train_path="auto", max_steps=2, quiet=False), log=lines.append)
    assert trainer.path.name == "layer-groups" and len(injected) == 1 and len(pipelines) == 1  # the first batch, to time on
    trainer.run()
    assert any(line.startswith("training: path layer-groups (autotuned in") for line in lines), lines
    del pipelines[:]
    second = Trainer(tiny_config(small_corpus, tmp_path / "b", train_path="auto", max_steps=1))
    assert second.path.name == "layer-groups" and second.path_choice.cached and len(injected) == 1
    forced = Trainer(tiny_config(small_corpus, tmp_path / "c", train_path="xla", max_steps=1))
    assert forced.path.name == "xla" and len(injected) == 1  # --train_path NAME: no timing at all
    assert not pipelines  # a cached or forced choice pulls no batch: no pipeline is built before the run


def test_autotuning_does_not_change_the_run(small_corpus, tmp_path, monkeypatch):
    """Real timing of scratch models (which draw random weights): the trainer seeds its random
    streams after it, so the run is the one the chosen path gives when forced."""
    monkeypatch.setenv("TFCHARRNN_CACHE", str(tmp_path / "cache"))
    tuned = Trainer(tiny_config(small_corpus, tmp_path / "a", train_path="auto", max_steps=1, dropout=0.2, weight_drop=0.2))
    assert not tuned.path_choice.cached and len(tuned.path_choice.seconds) >= 3
    forced = Trainer(tiny_config(small_corpus, tmp_path / "b", train_path=tuned.path.name, max_steps=1, dropout=0.2, weight_drop=0.2))
    for a, b in zip(tuned.model.weights, forced.model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert tuned.run()["val_loss"] == forced.run()["val_loss"]


def test_the_flags_force_a_path_or_leave_it_to_timing(small_corpus, tmp_path):
    from tfcharrnn.training.distribute import Distribution

    one = Distribution("default", 8)

    def chosen(**kw):
        cfg = tiny_config(small_corpus, tmp_path, **{"train_path": "auto", **kw})
        cfg.validate()
        path = train_path.forced(cfg, one)
        return path.name if path else [p.name for p in train_path.candidates(cfg)]

    assert chosen() == list(train_path.FLOAT32_CANDIDATES)  # auto: the timing decides
    assert chosen(matmul_dtype="bfloat16") == list(train_path.BFLOAT16_CANDIDATES)  # mixed precision asked for: among its paths
    assert chosen(train_path="fused") == "whole-batch" and chosen(train_path="fused-bf16") == "whole-batch-bf16"  # older names
    assert chosen(train_path="xla", matmul_dtype="bfloat16") == "xla-bf16"  # a named path in its bfloat16 form
    assert chosen(train_path="keras", matmul_dtype="bfloat16") == "keras"  # no fused matmuls to round
    with pytest.raises(UserError, match="--train_path step-groups has no bfloat16 form"):
        chosen(train_path="step-groups", matmul_dtype="bfloat16")
    with pytest.raises(UserError, match="--train_path 'nope' is not known"):
        chosen(train_path="nope")
    assert train_path.forced(tiny_config(small_corpus, tmp_path, train_path="auto"), Distribution("mirrored", 8)).name == "layer-groups"


@pytest.mark.parametrize("argv, path, dtype", [
    ([], "auto", "float32"),
    (["--kernel", "fused"], "whole-batch", "float32"),  # the older flag and the older name
    (["--train_path", "fused-bf16"], "whole-batch-bf16", "float32"),
    (["--fused", "false"], "keras", "float32"),
    (["--fused", "true"], "auto", "float32"),
    (["--jit"], "xla", "float32"),
    (["--jit", "--matmul_dtype", "bfloat16"], "xla", "bfloat16"),  # -> xla-bf16, as before
])
def test_the_older_path_flags_are_spellings_of_train_path(argv, path, dtype):
    from tfcharrnn.cli.flags import train_parser
    from tfcharrnn.cli.train import train_config

    cfg = train_config(train_parser().parse_args(argv))
    assert (cfg.train_path, cfg.matmul_dtype) == (path, dtype)


def test_a_checkpoint_s_older_path_fields_read_as_train_path():
    from tfcharrnn.training import TrainConfig

    assert TrainConfig.from_dict({"kernel": "fused", "fused": True, "jit": False}).train_path == "fused"
    assert TrainConfig.from_dict({"kernel": "auto", "fused": False, "jit": False}).train_path == "keras"
    assert TrainConfig.from_dict({"fused": True, "jit": True}).train_path == "xla"
    assert TrainConfig.from_dict({"fused": True, "jit": False}).train_path == "auto"
