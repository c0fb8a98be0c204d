"""Pick the training path on the machine at hand: time the candidates, keep the fastest, cache it.

    from tfcharrnn import autotune
    choice = autotune.choose(candidates, key, measure)    # measure(path) -> seconds per step
    choice.path, choice.cached, choice.seconds            # the fastest TrainPath; from the cache?

As cuDNN's and XLA's autotuners do, tfcharrnn times the paths that compute the same step
(tfcharrnn.paths: the fused kernels with one row group, row groups inside each layer,
whole-step row groups, the whole step in XLA, the Keras layers) for a few steps each on the
model and batch shape at hand, and keeps the fastest. The choice is cached per machine (CPU
model and flags, cores, TensorFlow version) and shape in CACHE_FILE under the tfcharrnn cache
directory (~/.cache/tfcharrnn or $TFCHARRNN_CACHE), so later runs start at once; delete the
file to measure again. Every float32 candidate computes the same function as the Keras cells
(tests hold them to 1e-5), so the choice changes speed, not what is learned beyond that.
bfloat16 paths are candidates only when --matmul_dtype bfloat16 asks for mixed precision.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field

from tfcharrnn.machine import busy_load, cache_dir, cpu_info

CACHE_FILE = "autotune.json"


def machine_key() -> dict:
    import tensorflow as tf

    return {**cpu_info(), "tensorflow": tf.__version__}


def shape_key(cfg, model_config) -> dict:
    """What the step's speed depends on besides the machine."""
    return {"model": model_config.model, "hidden_size": model_config.hidden_size, "num_layers": model_config.num_layers,
            "embedding_size": model_config.embedding_size, "vocab_size": model_config.vocab_size, "batch_size": cfg.batch_size,
            "seq_length": cfg.seq_length, "dropout": model_config.dropout > 0, "weight_drop": model_config.weight_drop > 0,
            "matmul_dtype": cfg.matmul_dtype}


@dataclass
class Choice:
    path: object  # the chosen tfcharrnn.paths.TrainPath
    cached: bool  # read from the cache, not measured now
    seconds: dict = field(default_factory=dict)  # path name -> seconds per step (median), when known
    tuning_s: float = 0.0  # time the measurement took

    def describe(self) -> str:
        if len(self.seconds) <= 1 and not self.cached:
            return f"path {self.path.name}"
        timing = ", ".join(f"{name} {1000 * s:.1f} ms" for name, s in sorted(self.seconds.items(), key=lambda kv: kv[1]))
        how = "autotuned earlier on this machine, cached" if self.cached else f"autotuned in {self.tuning_s:.1f}s"
        return f"path {self.path.name} ({how}: {timing} a step; --kernel NAME forces one)"


class Cache:
    """CACHE_FILE: entry key (machine + shape) -> the chosen path's name and the timings."""

    def __init__(self, directory: str | None = None):
        self.path = os.path.join(directory or cache_dir(), CACHE_FILE)

    @staticmethod
    def key(machine: dict, shape: dict) -> str:
        return hashlib.sha256(json.dumps({"machine": machine, "shape": shape}, sort_keys=True).encode()).hexdigest()[:24]

    def _read(self) -> dict:
        try:
            with open(self.path, encoding="utf-8") as f:
                entries = json.load(f)
            return entries if isinstance(entries, dict) else {}
        except (OSError, ValueError):
            return {}  # no cache yet, or a damaged one: measure again

    def get(self, key: str) -> dict | None:
        entry = self._read().get(key)
        return entry if isinstance(entry, dict) and isinstance(entry.get("path"), str) else None

    def put(self, key: str, entry: dict) -> None:
        from tfcharrnn.files import atomic_write_bytes

        entries = self._read()
        entries[key] = entry
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            atomic_write_bytes(self.path, json.dumps(entries, indent=1, sort_keys=True).encode("utf-8"))
        except OSError:
            pass  # the cache is an optimisation: a read-only home must not stop training


def distinct(candidates: list) -> list:
    """Candidates that run different code (on one core, the row groups collapse to one group)."""
    seen, out = set(), []
    for path in candidates:
        what = (path.recurrence, path.step_groups, path.jit)
        if what not in seen:
            seen.add(what)
            out.append(path)
    return out


def choose(candidates: list, key: str, measure, cache: Cache | None = None, rounds: int = 3, busy=busy_load) -> Choice:
    """The fastest of ``candidates`` (TrainPaths): from the cache under ``key``, else measured with
    ``measure(path) -> seconds per step`` and stored. Rounds are interleaved, so that a busy
    neighbour slows every candidate alike; a candidate 1.5x slower than the best after the first
    round is not measured again; each keeps its fastest round. A choice measured while other
    processes kept the machine busy is measured again once the machine is quiet."""
    candidates = distinct(candidates)
    by_name = {p.name: p for p in candidates}
    if len(candidates) == 1:
        return Choice(candidates[0], cached=False)
    cache = cache or Cache()
    load = busy()
    entry = cache.get(key)
    if entry is not None and entry["path"] in by_name and (entry.get("busy_load") is None or load is not None):
        return Choice(by_name[entry["path"]], cached=True, seconds=entry.get("seconds", {}))
    t0 = time.perf_counter()
    samples = {p.name: [] for p in candidates}
    for r in range(rounds):
        best = min((min(s) for s in samples.values() if s), default=None)
        for p in candidates:
            if r == 0 or min(samples[p.name]) <= 1.5 * best:
                samples[p.name].append(measure(p))
    seconds = {name: min(s) for name, s in samples.items()}
    chosen = min(candidates, key=lambda p: seconds[p.name])
    choice = Choice(chosen, cached=False, seconds=seconds, tuning_s=time.perf_counter() - t0)
    cache.put(key, {"path": chosen.name, "seconds": seconds, "measured_at": time.strftime("%Y-%m-%d %H:%M:%S"), "busy_load": load})
    return choice
