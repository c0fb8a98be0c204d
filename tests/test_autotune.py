"""Autotuning the training path: it picks the fastest candidate, caches the choice per machine and
shape, reuses the cache, and --kernel overrides it. Timing-free: the timings are injected."""

import json
import os

import numpy as np
import pytest

from conftest import tiny_config
from tfcharrnn import autotune, paths
from tfcharrnn.errors import UserError
from tfcharrnn.training import Trainer, tuning

TIMES = {"step-groups": 0.030, "layer-groups": 0.020, "fused": 0.025, "xla": 0.040, "keras": 0.090}


class Counting:
    def __init__(self, times):
        self.times, self.calls = times, []

    def __call__(self, path):
        self.calls.append(path.name)
        return self.times[path.name]


def candidates():
    return [paths.named(n) for n in tuning.FLOAT32_CANDIDATES]


def test_choose_measures_keeps_the_fastest_and_caches_it(tmp_path):
    cache = autotune.Cache(str(tmp_path))
    measure = Counting(TIMES)
    choice = autotune.choose(candidates(), "k", measure, cache, busy=lambda: None)
    assert choice.path.name == "layer-groups" and not choice.cached
    assert set(measure.calls) == set(TIMES) and measure.calls.count("keras") == 1  # 4.5x the best: measured once only
    assert json.load(open(cache.path))["k"]["path"] == "layer-groups"
    again = autotune.choose(candidates(), "k", Counting(TIMES), cache, busy=lambda: None)
    assert again.cached and again.path.name == "layer-groups" and "cached" in again.describe()
    other = autotune.choose(candidates(), "another shape", Counting({**TIMES, "xla": 0.001}), cache, busy=lambda: None)
    assert other.path.name == "xla" and json.load(open(cache.path))["k"]["path"] == "layer-groups"


def test_a_choice_made_on_a_busy_machine_is_measured_again_when_quiet(tmp_path):
    cache = autotune.Cache(str(tmp_path))
    autotune.choose(candidates(), "k", Counting(TIMES), cache, busy=lambda: 3.5)
    assert json.load(open(cache.path))["k"]["busy_load"] == 3.5
    still_busy = Counting({**TIMES, "fused": 0.001})
    assert autotune.choose(candidates(), "k", still_busy, cache, busy=lambda: 3.9).cached and not still_busy.calls
    quiet = Counting({**TIMES, "fused": 0.001})
    assert autotune.choose(candidates(), "k", quiet, cache, busy=lambda: None).path.name == "fused" and quiet.calls


def test_a_damaged_cache_is_measured_again(tmp_path):
    cache = autotune.Cache(str(tmp_path))
    os.makedirs(tmp_path, exist_ok=True)
    open(cache.path, "w").write("{not json")
    assert autotune.choose(candidates(), "k", Counting(TIMES), cache, busy=lambda: None).path.name == "layer-groups"


def test_one_core_collapses_the_row_groups(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    names = [p.name for p in autotune.distinct(candidates())]
    assert names == ["step-groups", "xla", "keras"]  # layer-groups and fused are step-groups' code on one core


def test_machine_and_shape_keys_name_what_speed_depends_on(small_corpus, tmp_path):
    machine = autotune.machine_key()
    assert {"cpu", "flags", "cores", "tensorflow"} <= set(machine)
    cfg = tiny_config(small_corpus, tmp_path)
    from tfcharrnn.config import ModelConfig

    a = autotune.shape_key(cfg, ModelConfig(vocab_size=65, **cfg.model_fields()))
    b = autotune.shape_key(cfg, ModelConfig(vocab_size=65, **{**cfg.model_fields(), "hidden_size": 64}))
    assert autotune.Cache.key(machine, a) != autotune.Cache.key(machine, b)


@pytest.fixture
def injected(monkeypatch, tmp_path):
    """The trainer's step timer replaced by TIMES; the cache in a fresh directory."""
    monkeypatch.setenv("TFCHARRNN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(autotune, "busy_load", lambda: None)
    built = []

    class FakeTimer(Counting):
        def __init__(self, trainer):
            super().__init__(TIMES)
            built.append(self)

    monkeypatch.setattr(tuning, "StepTimer", FakeTimer)
    return built


def test_the_trainer_autotunes_caches_and_says_so(small_corpus, tmp_path, injected):
    lines = []
    trainer = Trainer(tiny_config(small_corpus, tmp_path / "a", kernel="auto", max_steps=2, quiet=False), log=lines.append)
    assert trainer.path.name == "layer-groups" and len(injected) == 1
    trainer.run()
    assert any(line.startswith("training: path layer-groups (autotuned in") for line in lines), lines
    second = Trainer(tiny_config(small_corpus, tmp_path / "b", kernel="auto", max_steps=1))
    assert second.path.name == "layer-groups" and second.path_choice.cached and len(injected) == 2 and not injected[1].calls
    forced = Trainer(tiny_config(small_corpus, tmp_path / "c", kernel="xla", max_steps=1))
    assert forced.path.name == "xla" and len(injected) == 2  # --kernel NAME: no timing at all
    legacy = Trainer(tiny_config(small_corpus, tmp_path / "d", kernel="auto", fused=False, max_steps=1))
    assert legacy.path.name == "keras" and len(injected) == 2


def test_autotuning_does_not_change_the_run(small_corpus, tmp_path, monkeypatch):
    """Real timing of scratch models (which draw random weights): the trainer seeds its random
    streams after it, so the run is the one the chosen path gives when forced."""
    monkeypatch.setenv("TFCHARRNN_CACHE", str(tmp_path / "cache"))
    tuned = Trainer(tiny_config(small_corpus, tmp_path / "a", kernel="auto", max_steps=1, dropout=0.2, weight_drop=0.2))
    assert not tuned.path_choice.cached and len(tuned.path_choice.seconds) >= 3
    forced = Trainer(tiny_config(small_corpus, tmp_path / "b", kernel=tuned.path.name, max_steps=1, dropout=0.2, weight_drop=0.2))
    for a, b in zip(tuned.model.weights, forced.model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert tuned.run()["val_loss"] == forced.run()["val_loss"]


def test_the_older_path_flags_still_choose(small_corpus, tmp_path):
    def forced(**kw):
        cfg = tiny_config(small_corpus, tmp_path, **{"kernel": "auto", **kw})
        path = tuning.forced_path(cfg, single_device=True)
        return path.name if path else [p.name for p in tuning.candidates(cfg)]

    assert forced() == list(tuning.FLOAT32_CANDIDATES)  # auto: the timing decides
    assert forced(fused=False) == "keras" and forced(jit=True) == "xla" and forced(jit=True, matmul_dtype="bfloat16") == "xla-bf16"
    assert forced(matmul_dtype="bfloat16") == list(tuning.BFLOAT16_CANDIDATES)  # mixed precision asked for: among its paths
    assert forced(kernel="fused-bf16", matmul_dtype="bfloat16") == "fused-bf16"
    assert tuning.forced_path(tiny_config(small_corpus, tmp_path, kernel="auto"), single_device=False).name == "layer-groups"


def test_kernel_and_the_older_path_flags_conflict(small_corpus, tmp_path):
    with pytest.raises(UserError, match="--kernel fused and --jit both choose"):
        Trainer(tiny_config(small_corpus, tmp_path, kernel="fused", jit=True))
    with pytest.raises(UserError, match="--kernel 'nope' is not known"):
        Trainer(tiny_config(small_corpus, tmp_path, kernel="nope"))
