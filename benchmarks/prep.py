"""Corpus preparation: how long a large corpus takes to encode, first and cached, and how soon
training starts on it.

    python scripts/bench.py --only prep [--tmp-dir /tmp]        # 100 MB corpus (--quick: 2 MB)
    python -m benchmarks.prep encode CORPUS                  # one child, prints RESULT {json}
    python -m benchmarks.prep train-start CORPUS --steps 20

The corpus is real text (Tiny Shakespeare), its paragraphs reshuffled in every copy and some
copies with multi-byte characters, written under --tmp-dir (never into the repository). Each
measurement runs in a fresh child process, so its peak RSS and start-up time are its own.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

from benchmarks.common import child_env, print_result, run_child


def make_corpus(path: str, size_mb: float) -> dict:
    """Real text (Tiny Shakespeare), its paragraphs reshuffled in every copy, some copies with
    typographic quotes and dashes (multi-byte UTF-8), until ``size_mb`` megabytes."""
    import numpy as np

    from tfcharrnn.data import BUNDLED

    target = int(size_mb * 1e6)
    if os.path.exists(path) and os.path.getsize(path) >= target and os.path.exists(path + ".ok"):
        return {"path": path, "bytes": os.path.getsize(path), "reused": True}
    with open(BUNDLED, encoding="utf-8") as f:
        paragraphs = f.read().split("\n\n")
    rng = np.random.default_rng(0)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    written, copy = 0, 0
    with open(path + ".tmp", "wb") as f:
        while written < target:
            order = rng.permutation(len(paragraphs))
            text = "\n\n".join(paragraphs[i] for i in order) + "\n\n"
            if copy % 3 == 1:
                text = text.replace("'", "\u2019").replace("--", "\u2014")
            elif copy % 3 == 2:
                text = text.replace(" the ", " th\u00e9 ").replace("!", "\u00a1!")
            data = text.encode("utf-8")[: target - written]
            while data and (data[-1] & 0xC0) == 0x80:  # never cut a character in two
                data = data[:-1]
            if data and data[-1] >= 0xC0:
                data = data[:-1]
            f.write(data)
            written += len(data)
            copy += 1
            if len(data) == 0:
                break
    os.replace(path + ".tmp", path)
    open(path + ".ok", "w").close()
    return {"path": path, "bytes": os.path.getsize(path), "reused": False}


def run_prep(args, results, notes, log):
    size_mb = 2.0 if args.quick else 100.0
    base = os.path.join(args.tmp_dir, "tfcharrnn-bench")
    path = os.path.join(base, f"corpus-{size_mb:g}mb.txt")
    t0 = time.perf_counter()
    corpus = make_corpus(path, size_mb)
    corpus["write_s"] = time.perf_counter() - t0
    log(f"prep: corpus {corpus['bytes'] / 1e6:.1f} MB at {path} ({'reused' if corpus['reused'] else 'written'} in {corpus['write_s']:.1f}s)")
    cache = os.path.join(base, "cache")
    shutil.rmtree(cache, ignore_errors=True)
    env = child_env(TFCHARRNN_CACHE=cache, TF_CPP_MIN_LOG_LEVEL="3")
    first = run_child("benchmarks.prep", ["encode", path], env)
    log(f"  first run:  {first['seconds']:.2f}s, peak RSS {first['peak_rss_mb']:.0f} MB")
    cached = run_child("benchmarks.prep", ["encode", path], env)
    log(f"  cached run: {cached['seconds']:.2f}s, peak RSS {cached['peak_rss_mb']:.0f} MB")
    steps = 5 if args.quick else 20
    # the first training run on a new machine or shape times the training paths (cached under the same
    # TFCHARRNN_CACHE); the second is what every later run costs
    tuned = run_child("benchmarks.prep", ["train-start", path, "--steps", str(steps)], env)
    log(f"  first training run (autotunes the path): first step {tuned['first_step_s']:.2f}s after Trainer()")
    train = run_child("benchmarks.prep", ["train-start", path, "--steps", str(steps)], env)
    log(f"  training (cached): first step {train['first_step_s']:.2f}s after Trainer() (init {train['trainer_init_s']:.2f}s), "
        f"{train['first_step_from_process_start_s']:.2f}s after "
        f"process start; peak RSS {train['peak_rss_mb']:.0f} MB over {steps} steps")
    results["prep"] = {"corpus": corpus, "first_run": first, "cached_run": cached, "train_first": tuned, "train_cached": train,
                       "targets": {"prep_s": 15.0, "train_start_s": 3.0, "train_peak_rss_mb": 1536.0}}


# --- the child processes ----------------------------------------------------------------------


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _process_age_s() -> float:
    """Seconds since this process started (from /proc; psutil when /proc is absent)."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        import psutil

        return time.time() - psutil.Process().create_time()


def encode_child(path):
    from tfcharrnn.data import encode_files

    rss0 = _peak_rss_mb()
    t0 = time.perf_counter()
    vocab, ids = encode_files([path])
    n = int(len(ids))
    checksum = int(ids[:: max(1, n // 1000)].astype("int64").sum())  # touch the ids (mmap of a cached run)
    seconds = time.perf_counter() - t0
    print_result({"seconds": seconds, "peak_rss_mb": _peak_rss_mb(), "rss_before_mb": rss0, "chars": n,
                  "vocab_size": vocab.size, "dtype": str(ids.dtype), "checksum": checksum})


def train_start_child(path, steps):
    import tensorflow as tf  # noqa: F401  (timed apart: every TensorFlow program pays it)

    from tfcharrnn.training import TrainConfig, Trainer

    marks = {}
    imports_s = _process_age_s()

    def log(msg, *a, **k):
        if "| epoch" in str(msg) and "first" not in marks:
            marks["first"] = time.perf_counter()

    workdir = tempfile.mkdtemp(prefix="tfcharrnn-bench-start-")
    cfg = TrainConfig(train_data=path, hidden_size=128, num_layers=2, batch_size=64, seq_length=100, max_steps=steps, max_epochs=0,
                      val_frac=0.0, eval_val_every=0, sample_every=0, sample_length=0, iters_to_report=1, checkpoint_dir=workdir)
    t0 = time.perf_counter()
    trainer = Trainer(cfg, log=log)
    t_init = time.perf_counter() - t0
    result = trainer.run()
    total = time.perf_counter() - t0
    shutil.rmtree(workdir, ignore_errors=True)
    first = marks.get("first", t0 + total) - t0
    print_result({"first_step_s": first, "trainer_init_s": t_init, "corpus_load_s": trainer.prep_seconds,
                  "first_step_compile_s": first - t_init, "imports_s": imports_s,
                  "first_step_from_process_start_s": imports_s + first, "steps": result["step"], "run_s": total,
                  "peak_rss_mb": _peak_rss_mb(), "chars": trainer.corpus.num_chars,
                  "model": "2x128 lstm, batch 64 x seq 100"})


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="one corpus-preparation measurement; prints RESULT {json}")
    ap.add_argument("child", choices=("encode", "train-start"))
    ap.add_argument("path")
    ap.add_argument("--steps", type=int, default=20)
    a = ap.parse_args()
    if a.child == "encode":
        encode_child(a.path)
    else:
        train_start_child(a.path, a.steps)
