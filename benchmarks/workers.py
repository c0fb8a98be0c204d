"""Worker processes: every peer runs in its own process, and the peers are measured interleaved.

    python -m benchmarks.workers [--threads N]     # started by Worker, never by hand

Protocol: the parent writes one JSON command per line on the worker's stdin and reads one JSON
answer per line ({"ok": true, ...} or {"ok": false, "error": ...}) from its stdout; everything
else the worker prints goes to stderr, which the parent keeps as logs/worker-NAME.log.

  {"op": "setup", "name", "spec", "warmup_s"}   build a peer (spec["peer"] names its class) and warm it up
  {"op": "measure", "name", "seconds"}          steps for ``seconds``: steps, wall_s, cpu_s, rate, cpu_rate
  {"op": "measure", "name", "gen": [peer, batch, num_chars]}   one generation run, timed
  {"op": "warm-gen", "name", "gen": [...]}      one untimed generation run (tracing)
  {"op": "call", "which": "serving"|"tflite", ...}   the serving or LiteRT benchmark function
  {"op": "quit"}

Why processes: thread pools of two libraries (or two TensorFlow peers) never fight inside one
process. Why interleaved rounds (A, B, C, A, B, C, ...): on a shared machine the load drifts, and
peers measured side by side in time see the same load, so their ratio holds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from benchmarks.common import EMBEDDING, ROOT, child_env, set_threads, timed, tiny_shakespeare
from benchmarks.generate_peers import TfGenerate, TorchGenerate
from benchmarks.train_peers import KerasFitTrain, TfcharrnnTrain, TfMatmulPeak, TorchMatmulPeak, TorchTrain
from tfcharrnn import onednn

# =============================================================================================
# worker side


def make_peer(spec, threads=0):
    kind = spec["peer"]
    set_threads(threads, "torch" if kind.endswith("torch") else "tf")
    if kind == "train-tfcharrnn":
        return TfcharrnnTrain(*spec["config"], path=spec.get("path"))
    if kind == "train-keras-fit":
        return KerasFitTrain(*spec["config"])
    if kind == "train-torch":
        return TorchTrain(*spec["config"])
    if kind == "peak-tf":
        return TfMatmulPeak(spec["n"])
    if kind == "peak-torch":
        return TorchMatmulPeak(spec["n"])
    if kind == "gen-tf":
        return TfGenerate(*spec["config"])
    if kind == "gen-torch":
        return TorchGenerate(*spec["config"])
    raise ValueError(kind)


def _thread_info():
    info = {}
    if "torch" in sys.modules:
        import torch

        info["torch_threads"] = torch.get_num_threads()
    if "tensorflow" in sys.modules:
        import tensorflow as tf

        info["tf_intra_op_threads"] = tf.config.threading.get_intra_op_parallelism_threads()
        info["tf_inter_op_threads"] = tf.config.threading.get_inter_op_parallelism_threads()
    return info


def _setup(cmd, peers, threads):
    peer = make_peer(cmd["spec"], threads)
    peers[cmd["name"]] = peer
    warm = cmd.get("warmup_s", 1.0)
    if hasattr(peer, "step"):
        timed(peer.step, warm, min_steps=3)  # tracing, graph optimisation, allocator warm-up
    elif isinstance(peer, KerasFitTrain):
        peer.fit(3)
    info = peer.info() if hasattr(peer, "info") else {}
    info.update(_thread_info())
    return {"ok": True, "info": info}


def _measure(cmd, peer):
    seconds = cmd["seconds"]
    if isinstance(peer, KerasFitTrain):
        steps = max(2, int(round(seconds / max(peer.step_s, 1e-6))))
        n, wall, cpu = peer.fit(steps)
        work = n * peer.chars
    elif hasattr(peer, "step"):
        n, wall, cpu = timed(peer.step, seconds)
        work = n * (peer.flops if hasattr(peer, "flops") else peer.chars)
    else:  # generation: one run of num_chars at this batch size
        gen_peer, batch, num_chars = cmd["gen"]
        c0, t0 = time.process_time(), time.perf_counter()
        peer.run(gen_peer, batch, num_chars)
        wall, cpu, n = time.perf_counter() - t0, time.process_time() - c0, 1
        work = batch * num_chars
    return {"ok": True, "steps": n, "wall_s": wall, "cpu_s": cpu, "rate": work / wall, "cpu_rate": work / max(cpu, 1e-9)}


def call_module_bench(cmd):
    """The serving or LiteRT benchmark on a random-weight model of cmd["config"]."""
    which = cmd["which"]
    kind, hidden, layers = cmd["config"]
    if which == "serving":
        from benchmarks.serving import bench_serving

        corpus = tiny_shakespeare()
        r = bench_serving(num_layers=layers, hidden_size=hidden, num_chars=cmd["num_chars"], batch=cmd["batch"], repeats=cmd["repeats"],
                          model_kind=kind, vocab=corpus.vocab, log=lambda *a, **k: None)
        return {"batch1_chars_per_s": r["num_chars"] / r["serving_s"], f"batch{cmd['batch']}_chars_per_s": cmd["batch"] * r["num_chars"] / r["serving_batch_s"],
                "raw": r}
    if which == "tflite":
        import keras

        from tfcharrnn.config import ModelConfig
        from tfcharrnn.model import CharRNN
        from benchmarks.litert import bench_settings

        corpus = tiny_shakespeare()
        keras.utils.set_random_seed(0)
        model = CharRNN(ModelConfig(vocab_size=corpus.vocab.size, model=kind, hidden_size=hidden, num_layers=layers, embedding_size=EMBEDDING))
        return {"settings": bench_settings(model, corpus.vocab, num_chars=cmd["num_chars"], repeats=cmd["repeats"])}
    raise ValueError(which)


def _handle(cmd, peers, threads):
    op = cmd["op"]
    if op == "setup":
        return _setup(cmd, peers, threads)
    if op == "measure":
        return _measure(cmd, peers[cmd["name"]])
    if op == "warm-gen":
        gen_peer, batch, num_chars = cmd["gen"]
        peers[cmd["name"]].run(gen_peer, batch, num_chars)
        return {"ok": True}
    if op == "call":
        return {"ok": True, "result": call_module_bench(cmd)}
    raise ValueError(f"unknown op {op!r}")


def worker_main(threads):
    """Serve JSON commands on stdin; answer on the original stdout (everything else goes to stderr)."""
    reply = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # stray prints (Keras, C++ logging) must not corrupt the protocol
    sys.stdout = sys.stderr
    peers = {}
    for line in sys.stdin:
        try:
            cmd = json.loads(line)
            if cmd["op"] == "quit":
                reply.write(json.dumps({"ok": True}) + "\n")
                return
            answer = _handle(cmd, peers, threads)
        except Exception as e:  # report, keep serving
            import traceback

            traceback.print_exc()
            answer = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        reply.write(json.dumps(answer, default=str) + "\n")


# =============================================================================================
# parent side


class Worker:
    def __init__(self, name, threads, log_dir, env=None):
        """``env``: variables this worker starts with (a peer that forces TF_ENABLE_ONEDNN_OPTS: the user's, not tfcharrnn's)."""
        extra = env or {}
        env = child_env(TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1", **extra)
        if onednn.VARIABLE in extra:
            env.pop(onednn.SET_BY_US, None)
        self.name = name
        self.log_path = os.path.join(log_dir, f"worker-{name}.log")
        self.log = open(self.log_path, "w")
        cmd = [sys.executable, "-m", "benchmarks.workers"] + (["--threads", str(threads)] if threads else [])
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True, env=env, cwd=ROOT)

    def send(self, **cmd):
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()

    def recv(self):
        line = self.proc.stdout.readline()
        if not line:
            self.log.flush()
            with open(self.log_path) as f:
                tail = f.read()[-3000:]
            raise RuntimeError(f"worker {self.name} died:\n{tail}")
        answer = json.loads(line)
        if not answer.get("ok"):
            raise RuntimeError(f"worker {self.name}: {answer.get('error')} (log: {self.log_path})")
        return answer

    def call(self, **cmd):
        self.send(**cmd)
        return self.recv()

    def close(self):
        try:
            if self.proc.poll() is None:
                self.call(op="quit")
            self.proc.wait(timeout=30)
        except Exception:
            self.proc.kill()
        self.log.close()


class Jobs:
    """Peers by name, each set up in a worker process ({name: spec}; spec["process"] groups several
    peers into one process, spec["threads"] overrides the thread count, spec["env"] adds to the
    process's environment), measured by name."""

    def __init__(self, jobs, threads, log_dir, notes):
        self.workers, self.where, self.info = {}, {}, {}
        for name, spec in jobs.items():
            key = spec.get("process", name)
            if key not in self.workers:
                self.workers[key] = Worker(key, spec.get("threads", threads), log_dir, spec.get("env"))
            self.where[name] = key
        for name, spec in jobs.items():  # every process builds and warms up its peers at once
            self.workers[self.where[name]].send(op="setup", name=name, spec=spec, warmup_s=spec.get("warmup_s", 1.0))
        self.ready = []
        for name in jobs:
            try:
                self.info[name] = self.workers[self.where[name]].recv().get("info", {})
                self.ready.append(name)
            except RuntimeError as e:
                notes.append(f"{name}: setup failed, skipped ({str(e).splitlines()[0][:300]})")

    def call(self, name, **cmd):
        return self.workers[self.where[name]].call(name=name, **cmd)

    def close(self):
        for w in self.workers.values():
            w.close()


def interleave(jobs, repeats, seconds, log, label):
    """Round-robin measurement: {name: [round results]}."""
    rounds = {name: [] for name in jobs.ready}
    for r in range(repeats):
        for name in jobs.ready:
            rounds[name].append(jobs.call(name, op="measure", seconds=seconds))
        log(f"  {label} round {r + 1}/{repeats}: " + ", ".join(f"{n} {rounds[n][-1]['rate']:,.0f}" for n in jobs.ready))
    return rounds


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="a benchmark worker: JSON commands on stdin, answers on stdout")
    ap.add_argument("--threads", type=int, default=0)
    sys.exit(worker_main(ap.parse_args().threads))
