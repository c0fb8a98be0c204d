"""oneDNN on or off (tfcharrnn.onednn): the rule on injected CPU flags, the probe, and a front end
that sets TF_ENABLE_ONEDNN_OPTS before TensorFlow is imported.

    python -m pytest -q tests/test_onednn.py

The machine running these may be of either kind: an AVX2-only CPU (TensorFlow's default off, the
case tfcharrnn measures) is injected as cpu_info's flags, on any machine.
"""

import json
import os
import subprocess
import sys

import pytest

from tfcharrnn import machine, onednn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINUX = ("linux", "x86_64")
AVX2 = {"cpu": "AMD EPYC 7B12", "flags": ["avx", "avx2", "fma"], "cores": 2}  # Zen 2: TensorFlow's default off
ZEN5 = {"cpu": "AMD EPYC 9B45", "flags": ["avx", "avx2", "avx512_bf16", "avx512_vnni", "avx512bw", "avx512f", "avx_vnni", "fma"], "cores": 2}
SAPPHIRE = {"cpu": "Intel(R) Xeon(R) Processor", "flags": ["amx_bf16", "amx_tile", "avx2", "avx512_bf16", "avx512_vnni", "avx512f"], "cores": 2}
MEASURED_ON = {"enabled": True, "speedup": 1.31, "seconds": {"off": {"train-2x512": 0.5}, "on": {"train-2x512": 0.38}}}
MEASURED_OFF = {"enabled": False, "speedup": 0.97, "seconds": {"off": {"train-2x512": 0.5}, "on": {"train-2x512": 0.52}}}


def test_tensorflows_own_default_follows_port_cc():
    assert onednn.tf_default(AVX2, LINUX) is False
    assert onednn.tf_default(ZEN5, LINUX) is True and onednn.tf_default(SAPPHIRE, LINUX) is True
    assert onednn.tf_default({"flags": ["avx2", "avx_vnni"]}, LINUX) is True  # AVX-VNNI alone (Alder Lake) is enough
    assert onednn.tf_default({"flags": ["avx2", "avx512f", "avx512bw"]}, LINUX) is False  # Skylake-SP: AVX-512 without VNNI
    assert onednn.tf_default(AVX2, ("darwin", "x86_64")) is None and onednn.tf_default(AVX2, ("linux", "aarch64")) is None


def test_on_an_avx2_only_cpu_the_measured_decision_is_used_and_set():
    assert onednn.decide(AVX2, {}, None, system=LINUX) is None  # nothing cached: measure
    on = onednn.decide(AVX2, {}, MEASURED_ON, system=LINUX)
    assert (on.enabled, on.setting) == (True, "1") and "1.31x faster" in on.describe()
    off = onednn.decide(AVX2, {}, MEASURED_OFF, system=LINUX)
    assert (off.enabled, off.setting) == (False, "0") and off.describe().startswith("oneDNN off")
    failed = onednn.decide(AVX2, {}, {"failed": "the probe timed out"}, system=LINUX)
    assert (failed.enabled, failed.setting) == (False, None) and "timed out" in failed.why  # TensorFlow's default, untouched


def test_on_avx512_vnni_tensorflows_default_stands_and_nothing_is_measured():
    for cpu in (ZEN5, SAPPHIRE):
        for entry in (None, MEASURED_OFF):
            d = onednn.decide(cpu, {}, entry, system=LINUX)
            assert (d.enabled, d.setting) == (True, None) and d.why == "TensorFlow's default on this CPU"


def test_the_users_variable_wins():
    for value, expected in (("0", False), ("1", True), ("false", False), ("TRUE", True)):
        for cpu, entry in ((AVX2, MEASURED_ON), (AVX2, MEASURED_OFF), (ZEN5, None), (AVX2, None)):
            d = onednn.decide(cpu, {onednn.VARIABLE: value}, entry, system=LINUX)
            assert (d.enabled, d.setting) == (expected, None), (value, cpu["cpu"], entry)
    bad = onednn.decide(AVX2, {onednn.VARIABLE: "yes"}, MEASURED_ON, system=LINUX)  # TensorFlow ignores it: its default
    assert (bad.enabled, bad.setting) == (False, None) and "not 0, 1, true or false" in bad.why
    # the value tfcharrnn set (here or in a parent process) is not the user's: the cache decides again
    inherited = {onednn.VARIABLE: "1", onednn.SET_BY_US: "1"}
    assert onednn.decide(AVX2, inherited, MEASURED_OFF, system=LINUX).setting == "0"
    assert onednn.decide(AVX2, inherited, None, system=LINUX).setting == "1"  # no cache here: the parent's decision


def test_once_tensorflow_is_imported_its_own_answer_is_reported():
    d = onednn.decide(AVX2, {}, MEASURED_ON, tf_enabled=False, system=LINUX)  # the cache says on, but TensorFlow already runs off
    assert (d.enabled, d.setting) == (False, None) and d.why == "TensorFlow's default on this CPU"
    late = onednn.decide(AVX2, {onednn.VARIABLE: "1"}, None, tf_enabled=False, system=LINUX)  # set after TensorFlow's import
    assert (late.enabled, late.setting) == (False, None) and "imported before" in late.why
    ours = onednn.decide(AVX2, {onednn.VARIABLE: "1", onednn.SET_BY_US: "1"}, None, tf_enabled=True, system=LINUX)
    assert ours.describe() == "oneDNN on (TF_ENABLE_ONEDNN_OPTS=1, set by tfcharrnn before TensorFlow's import)"


def test_a_decision_measured_on_a_busy_machine_is_measured_again_when_quiet():
    busy = dict(MEASURED_ON, busy_load=3.1)
    assert onednn.decide(AVX2, {}, busy, system=LINUX, load=None) is None
    assert onednn.decide(AVX2, {}, busy, system=LINUX, load=2.5).enabled is True


def test_the_verdict_is_the_geometric_mean_with_a_margin():
    off = {"train-2x512": 1.35, "train-2x128": 1.0, "loop-batch1": 1.0}
    assert onednn.verdict(off, {"train-2x512": 1.0, "train-2x128": 1.0, "loop-batch1": 1.0}) == (True, pytest.approx(1.35 ** (1 / 3)))
    assert onednn.verdict(off, {"train-2x512": 1.0, "train-2x128": 1.2, "loop-batch1": 1.2})[0] is False  # faster once, slower twice
    assert onednn.verdict({"a": 1.02}, {"a": 1.0})[0] is False  # within the margin: TensorFlow's default stays


def test_the_training_path_cache_keeps_the_onednn_setting(monkeypatch, tmp_path, small_corpus):
    """A path chosen with oneDNN on is not reused with it off (the key holds TensorFlow's own answer)."""
    from conftest import tiny_config
    from tfcharrnn.config import ModelConfig
    from tfcharrnn.training import train_path

    cfg = tiny_config(small_corpus, tmp_path / "run", train_path="auto")
    model_config = ModelConfig(vocab_size=65, hidden_size=32, num_layers=2, embedding_size=16)
    cache, paths = train_path.Cache(str(tmp_path / "cache")), train_path.candidates(cfg)
    monkeypatch.setattr(onednn, "enabled", lambda: True)
    key_on = train_path.cache_key(cfg, model_config)
    cache.put(key_on, {"path": "layer-groups", "seconds": {"layer-groups": 0.01}, "busy_load": None})
    assert cache.lookup(key_on, paths, None).path.name == "layer-groups"
    monkeypatch.setattr(onednn, "enabled", lambda: False)
    key_off = train_path.cache_key(cfg, model_config)
    assert key_off != key_on and cache.lookup(key_off, paths, None) is None


def test_the_probe_times_both_settings_each_in_its_own_process():
    """The real measurement (one round): each child reports the setting TensorFlow took, or the probe fails."""
    entry = onednn.probe(rounds=1)
    assert "failed" not in entry, entry
    assert set(entry["seconds"]["off"]) == set(entry["seconds"]["on"]) == {"train-2x512", "train-2x128", "loop-batch1"}
    assert all(s > 0 for setting in entry["seconds"].values() for s in setting.values())
    assert (entry["enabled"], pytest.approx(entry["speedup"], rel=1e-3)) == onednn.verdict(entry["seconds"]["off"], entry["seconds"]["on"])


DRIVER = """
import json, os, sys
import tfcharrnn
from tfcharrnn import machine, onednn
real = machine.cpu_info
machine.cpu_info = lambda: dict(real(), flags=["avx", "avx2", "fma"])  # an AVX2-only CPU: TensorFlow's default off
calls, apply = [], onednn.apply
def recording(*args, **kwargs):
    calls.append({"measure": kwargs.get("measure", True), "tensorflow_imported": "tensorflow" in sys.modules})
    return apply(*args, **kwargs)
onednn.apply = recording
from tfcharrnn.cli import train
rc = train.main(sys.argv[1:])
print("RESULT " + json.dumps({"rc": rc, "calls": calls, "env": os.environ.get(onednn.VARIABLE), "tensorflow": onednn.tensorflow_enabled()}))
"""


def test_the_trainer_front_end_sets_the_variable_before_tensorflow_is_imported(tmp_path, small_corpus):
    """On an (injected) AVX2-only CPU whose cached measurement says off, `train` sets
    TF_ENABLE_ONEDNN_OPTS=0 before TensorFlow's import: TensorFlow then runs without oneDNN, though
    on an AVX-512 VNNI machine its own default would be on; the start-up line says so."""
    cache_dir = tmp_path / "cache"
    key = onednn.cache_key(dict(machine.cpu_info(), flags=["avx", "avx2", "fma"]))
    onednn.Cache(str(cache_dir)).put(key, MEASURED_OFF)
    env = {k: v for k, v in os.environ.items() if k not in (onednn.VARIABLE, onednn.SET_BY_US)}
    env.update(TFCHARRNN_CACHE=str(cache_dir), PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    flags = ["--train_data", small_corpus, "--hidden_size", "16", "--num_layers", "1", "--embedding_size", "8", "--batch_size", "4",
             "--seq_length", "16", "--max_steps", "1", "--max_epochs", "0", "--eval_val_every", "0", "--sample_every", "0",
             "--train_path", "whole-batch", "--checkpoint_dir", str(tmp_path / "run")]
    p = subprocess.run([sys.executable, "-c", DRIVER] + flags, env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert p.returncode == 0, p.stderr[-3000:]
    result = json.loads(p.stdout.splitlines()[-1][len("RESULT "):])
    first = next(c for c in result["calls"] if c["measure"])
    assert first == {"measure": True, "tensorflow_imported": False}, result["calls"]
    assert (result["rc"], result["env"], result["tensorflow"]) == (0, "0", False), result
    start = [line for line in p.stdout.splitlines() if line.startswith("training: path whole-batch")]
    assert start and "oneDNN off (measured on this machine earlier: 0.97x with it, not faster" in start[0], p.stdout


def test_the_benchmarks_forced_peers_get_their_own_process_and_variable():
    from benchmarks.sections import _train_spec

    for peer, value in (("tfcharrnn-onednn-on", "1"), ("tfcharrnn-onednn-off", "0")):
        spec = _train_spec(peer)
        assert spec == {"peer": "train-tfcharrnn", "path": None, "env": {onednn.VARIABLE: value}, "process": peer}


@pytest.mark.slow
def test_the_benchmark_reports_the_setting_and_runs_the_forced_peers_under_theirs(tmp_path):
    """bench.py prints oneDNN's state with the CPU; its forced peers train under the setting their name says."""
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "bench.py"), "--quick", "--only", "train", "--train-peers",
                        "tfcharrnn,tfcharrnn-onednn-on,tfcharrnn-onednn-off", "--out", str(out), "--tmp-dir", str(tmp_path)],
                       capture_output=True, text=True, timeout=900, cwd=ROOT, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    with open(out / "bench.json") as f:
        results = json.load(f)
    assert results["machine"]["onednn"].startswith("oneDNN ") and results["machine"]["onednn"] in (out / "bench.md").read_text()
    assert any(line.startswith("machine: ") and "oneDNN" in line for line in p.stdout.splitlines())
    (entry,) = results["train"].values()
    assert entry["peers"]["tfcharrnn-onednn-on"]["threads"]["onednn"] is True
    assert entry["peers"]["tfcharrnn-onednn-off"]["threads"]["onednn"] is False
    assert "oneDNN forced off (TF_ENABLE_ONEDNN_OPTS=0): path " in entry["peers"]["tfcharrnn-onednn-off"]["label"]
