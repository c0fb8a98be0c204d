"""What every part of the benchmark shares: model sizes, thread settings, the timing loop, and
the way child processes are started and answer.

    from benchmarks.common import EMBEDDING, VOCAB_SIZE, timed, run_child

A child process (corpus preparation, a quality run) prints one line ``RESULT {json}`` on
stdout; ``run_child`` starts it as ``python -m MODULE ARGS`` (``benchmarks.prep``, ...) in the
repository root, with the root on PYTHONPATH, and returns that dict.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

# The repository root, which holds this benchmarks/ package and the tfcharrnn beside it: children
# run from there with it first on their path, so they import both from the checkout, whatever
# tfcharrnn may also be installed.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

VOCAB_SIZE = 65  # Tiny Shakespeare
EMBEDDING = 64


def torch_available() -> bool:
    try:
        import importlib.util

        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def set_threads(threads, library):
    """Same thread counts for every peer: TF's intra/inter-op pools (before its first op), torch's pool."""
    if not threads:
        return
    if library == "tf":
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # already initialised (a second peer in this process): the first call holds
            pass
    else:
        import torch

        torch.set_num_threads(threads)


def timed(step, seconds: float, min_steps: int = 2):
    """Run ``step`` until ``seconds`` have passed (at least min_steps): (steps, wall s, cpu s)."""
    n = 0
    c0, t0 = time.process_time(), time.perf_counter()
    while n < min_steps or time.perf_counter() - t0 < seconds:
        step()
        n += 1
    return n, time.perf_counter() - t0, time.process_time() - c0


def median(xs):
    return statistics.median(xs) if xs else None


def tiny_shakespeare():
    from tfcharrnn.data import load_corpus

    return load_corpus(None, val_frac=0.0)


def child_env(**extra) -> dict:
    """The environment of a child process: the repository root (benchmarks, tfcharrnn) first on its path."""
    path = os.environ.get("PYTHONPATH")
    env = dict(os.environ, PYTHONPATH=ROOT + (os.pathsep + path if path else ""))
    env.update(extra)
    return env


def run_child(module: str, args_list, env, timeout=600, log_path=None) -> dict:
    """``python -m module args_list``: the dict of its last ``RESULT`` line, plus process_wall_s."""
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", module] + list(args_list), env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    wall = time.perf_counter() - t0
    if log_path:
        with open(log_path, "w") as f:
            f.write(p.stdout + p.stderr)
    lines = [line for line in p.stdout.splitlines() if line.startswith("RESULT ")]
    if p.returncode != 0 or not lines:
        raise RuntimeError(f"child {module} {' '.join(args_list)} failed (rc {p.returncode}): {p.stderr[-2000:]}")
    r = json.loads(lines[-1][len("RESULT "):])
    r["process_wall_s"] = wall
    return r


def print_result(result: dict) -> None:
    """The child's side of run_child."""
    print("RESULT " + json.dumps(result), flush=True)
