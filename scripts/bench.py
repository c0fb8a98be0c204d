"""Benchmark tfcharrnn against its peers on this machine, in one run: JSON + a markdown table.

    python scripts/bench.py                          # full run (about 10-15 min on 2 cores)
    python scripts/bench.py --quick                  # tiny sizes, seconds: the smoke test of tests/test_bench.py
    python scripts/bench.py --only train,peak --repeats 7 --out bench_results

Sections (``--only``, comma separated; default all):
  train     training chars/s in steady state: tfcharrnn's Trainer.train_step (the code path
            scripts/train.py runs, on real batches of the bundled Tiny Shakespeare), the Keras
            ``model.fit`` approach of the TensorFlow text-generation tutorial, PyTorch ``nn.LSTM`` /
            ``nn.GRU`` with Adam (when torch is installed: ``pip install -e .[bench]``), plus
            achieved GFLOP/s (6 x parameters-in-matmuls per character)
  peak      this machine's float32 matmul GFLOP/s (TensorFlow and, if present, PyTorch; the best counts)
  generate  generation chars/s at batch 1 and 32: tfcharrnn's compiled loop, the tutorial's OneStep
            per-character loop, a PyTorch per-character loop, and when their modules are present the
            SavedModel ``serving_default`` (tfcharrnn.export.bench_serving) and the LiteRT sampler
            (tfcharrnn.tflite_export.bench_tflite)
  prep      corpus preparation of a 100 MB UTF-8 corpus (real text, repeated and mixed; written
            under /tmp): seconds and peak RSS of a first and a cached run, and the time to the first
            training step and peak RSS of a short Trainer run on it

How it measures on a shared, noisy machine: every peer lives in its own worker process (so
thread pools never fight inside one process), is built and warmed up first, and then the peers
are measured interleaved, round after round (A, B, C, A, B, C, ...); the table reports the
median of the rounds, and the ratios compare medians from the same run. The JSON keeps every
round, the CPU seconds used, and the load average before and after.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

SECTIONS = ("train", "peak", "generate", "prep")
GATES = {"lstm": 4, "gru": 3, "rnn": 1}
VOCAB_SIZE = 65  # Tiny Shakespeare
EMBEDDING = 64

# name -> (model kind, hidden, layers, batch, seq)
FULL_TRAIN = {
    "small": ("lstm", 128, 2, 32, 64),
    "medium": ("lstm", 512, 2, 64, 100),
    "medium-gru": ("gru", 512, 2, 64, 100),
}
QUICK_TRAIN = {"tiny": ("lstm", 32, 2, 8, 16)}
FULL_GEN = {"small": ("lstm", 128, 2), "medium": ("lstm", 512, 2)}
QUICK_GEN = {"tiny": ("lstm", 32, 2)}

TRAIN_PEERS = {
    "tfcharrnn": "tfcharrnn Trainer (fused CPU kernel, the default)",
    "tfcharrnn-layergroups": "tfcharrnn Trainer, row groups inside each layer only (path layer-groups: the default before whole-step groups)",
    "tfcharrnn-1group": "tfcharrnn Trainer, one row group (path fused: no two loops side by side)",
    "tfcharrnn-jit": "tfcharrnn Trainer, jit=True (whole step in XLA)",
    "tfcharrnn-bf16": "tfcharrnn Trainer, --matmul_dtype bfloat16 (opt-in mixed precision)",
    "tfcharrnn-keras": "tfcharrnn Trainer, fused=False (Keras layers in a tf.function step)",
    "keras-fit": "Keras model.fit (TF text-generation tutorial)",
    "torch": "PyTorch nn.LSTM/nn.GRU + Adam",
    "torch-1t": "PyTorch nn.LSTM/nn.GRU + Adam, 1 thread",
}
GEN_PEERS = {
    "tfcharrnn": "tfcharrnn compiled loop (sampling.Generator)",
    "onestep": "OneStep per-character loop (TF tutorial)",
    "torch": "PyTorch per-character loop (its default threads)",
    "torch-1t": "PyTorch per-character loop, 1 thread",
}


def matmul_params(kind: str, hidden: int, layers: int, vocab: int = VOCAB_SIZE, embedding: int = EMBEDDING) -> int:
    """Weights that take part in a matmul per character: the cells' input and recurrent kernels and the output layer."""
    total, inp = 0, embedding
    for _ in range(layers):
        total += GATES[kind] * hidden * (inp + hidden)
        inp = hidden
    return total + hidden * vocab


def train_flops_per_char(kind, hidden, layers) -> float:
    """Forward 2 x params, backward 4 x params: 6 x parameters-in-matmuls per character."""
    return 6.0 * matmul_params(kind, hidden, layers)


def torch_available() -> bool:
    try:
        import importlib.util

        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


# =============================================================================================
# worker side: each peer runs in a worker process; the parent sends JSON commands on stdin


def _set_threads(threads, library):
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


def _timed(step, seconds: float, min_steps: int = 2):
    """Run ``step`` until ``seconds`` have passed (at least min_steps): (steps, wall s, cpu s)."""
    n = 0
    c0, t0 = time.process_time(), time.perf_counter()
    while n < min_steps or time.perf_counter() - t0 < seconds:
        step()
        n += 1
    return n, time.perf_counter() - t0, time.process_time() - c0


def _tiny_shakespeare():
    from tfcharrnn.data import load_corpus

    return load_corpus(None, val_frac=0.0)


class TfcharrnnTrain:
    """The Trainer's own compiled step on the Trainer's own stream batches, state carried."""

    def __init__(self, kind, hidden, layers, batch, seq, fused=True, jit=False, bf16=False, row_groups=None, layer_groups=False, workdir=None):
        import tensorflow as tf  # noqa: F401

        from tfcharrnn.training import TrainConfig, Trainer

        self.cfg = TrainConfig(train_data=None, model=kind, hidden_size=hidden, num_layers=layers, batch_size=batch, seq_length=seq,
                               max_steps=10**9, max_epochs=0, quiet=True, eval_val_every=0, sample_every=0, val_frac=0.0,
                               checkpoint_dir=workdir or tempfile.mkdtemp(prefix="tfcharrnn-bench-"), fused=fused, jit=jit,
                               matmul_dtype="bfloat16" if bf16 else "float32")
        from tfcharrnn import paths

        path = None  # the path the flags describe
        if fused and row_groups == 1:
            path = paths.named("fused")
        elif fused and layer_groups:
            path = paths.named("layer-groups")
        self.tr = Trainer(self.cfg, path=path)
        self.chars = batch * seq
        self.epoch, self.steps = 0, 0
        self._new_epoch()

    def _new_epoch(self):
        self.it = self.tr.train_batches(self.epoch)  # as Trainer.run pulls them
        self.carry = self.tr.model.initial_state(self.cfg.batch_size)

    def step(self):
        import tensorflow as tf

        from tfcharrnn.training import learning_rate

        try:
            x, y = next(self.it)
        except StopIteration:
            self.epoch += 1
            self._new_epoch()
            x, y = next(self.it)
        lr = tf.constant(learning_rate(self.cfg, self.steps, self.epoch, 0.0), tf.float32)  # as Trainer.run does each step
        loss, self.carry = self.tr.train_step(x, y, self.carry, lr)
        loss = float(loss)  # Trainer.run reads the loss every step
        if not math.isfinite(loss):
            raise RuntimeError(f"loss became {loss}")
        self.steps += 1


class KerasFitTrain:
    """The TensorFlow text-generation tutorial: a subclassed model, compile('adam'), model.fit(dataset)."""

    def __init__(self, kind, hidden, layers, batch, seq):
        import keras
        import tensorflow as tf

        corpus = _tiny_shakespeare()
        vocab_size = corpus.vocab.size
        rnn = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "rnn": keras.layers.SimpleRNN}[kind]

        class MyModel(keras.Model):
            def __init__(self):
                super().__init__()
                self.embedding = keras.layers.Embedding(vocab_size, EMBEDDING)
                self.rnns = [rnn(hidden, return_sequences=True, return_state=True) for _ in range(layers)]
                self.dense = keras.layers.Dense(vocab_size)

            def call(self, inputs, training=False):
                x = self.embedding(inputs, training=training)
                for layer in self.rnns:
                    x = layer(x, training=training)[0]
                return self.dense(x, training=training)

        self.model = MyModel()
        self.model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))  # jit_compile="auto"
        ids = tf.constant(corpus.train.astype("int64"))
        sequences = tf.data.Dataset.from_tensor_slices(ids).batch(seq + 1, drop_remainder=True)
        dataset = sequences.map(lambda s: (s[:-1], s[1:]))
        self.dataset = dataset.shuffle(10000).batch(batch, drop_remainder=True).repeat().prefetch(tf.data.AUTOTUNE)
        self.chars = batch * seq
        self.step_s = None
        self.fit(2)

    def info(self):
        return {"keras_jit_compile": bool(self.model.jit_compile)}  # what "auto" resolved to

    def fit(self, steps):
        """Time ``steps`` batches of one model.fit call, from the end of its first batch (steady state)."""
        import keras

        marks = []

        class Clock(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                marks.append((time.perf_counter(), time.process_time()))

        self.model.fit(self.dataset, epochs=1, steps_per_epoch=steps + 1, verbose=0, callbacks=[Clock()])
        (t0, c0), (t1, c1) = marks[0], marks[-1]
        self.step_s = (t1 - t0) / steps
        return steps, t1 - t0, c1 - c0


class TorchTrain:
    def __init__(self, kind, hidden, layers, batch, seq):
        import numpy as np
        import torch

        from tfcharrnn.data import BUNDLED, encode_text, read_text

        _, ids = encode_text(read_text([BUNDLED]))
        self.ids = torch.from_numpy(np.asarray(ids, dtype=np.int64))
        torch.manual_seed(0)
        rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[kind]

        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.embedding = torch.nn.Embedding(VOCAB_SIZE, EMBEDDING)
                self.rnn = rnn(EMBEDDING, hidden, layers, batch_first=True)
                self.head = torch.nn.Linear(hidden, VOCAB_SIZE)

            def forward(self, x, state=None):
                out, state = self.rnn(self.embedding(x), state)
                return self.head(out), state

        self.net = Net()
        self.opt = torch.optim.Adam(self.net.parameters(), lr=3e-3)
        self.kind, self.batch, self.seq = kind, batch, seq
        # the stream layout (truncated BPTT): batch rows are contiguous text, state carried on
        self.row_len = (len(self.ids) - 1) // batch
        self.rows = torch.arange(batch)[:, None] * self.row_len
        self.offsets = torch.arange(seq + 1)[None, :]
        self.j, self.state = 0, None
        self.chars = batch * seq

    def step(self):
        import torch

        if (self.j + 1) * self.seq + 1 > self.row_len:
            self.j, self.state = 0, None
        window = self.ids[self.rows + self.j * self.seq + self.offsets]
        self.j += 1
        x, y = window[:, :-1], window[:, 1:]
        self.opt.zero_grad(set_to_none=True)
        logits, state = self.net(x, self.state)
        self.state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB_SIZE), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), 5.0)
        self.opt.step()
        loss = float(loss)
        if not math.isfinite(loss):
            raise RuntimeError(f"loss became {loss}")


class TfMatmulPeak:
    def __init__(self, n):
        import tensorflow as tf

        self.n = n
        a = tf.random.normal([n, n])
        b = tf.random.normal([n, n])
        self.fn = tf.function(lambda a, b: tf.reduce_sum(tf.matmul(a, b)[0, :1]))
        self.args = (a, b)
        self.flops = 2.0 * n**3

    def step(self):
        float(self.fn(*self.args))


class TorchMatmulPeak:
    def __init__(self, n):
        import torch

        self.n = n
        self.a, self.b = torch.randn(n, n), torch.randn(n, n)
        self.flops = 2.0 * n**3

    def step(self):
        import torch

        torch.mm(self.a, self.b)


class TfGenerate:
    """tfcharrnn's compiled loop and the tutorial's OneStep loop on one (random-weight) CharRNN."""

    def __init__(self, kind, hidden, layers):
        import keras
        import tensorflow as tf

        from tfcharrnn.config import ModelConfig
        from tfcharrnn.model import CharRNN
        from tfcharrnn.sampling import Generator

        corpus = _tiny_shakespeare()
        self.vocab = corpus.vocab
        keras.utils.set_random_seed(0)
        self.model = CharRNN(ModelConfig(vocab_size=self.vocab.size, model=kind, hidden_size=hidden, num_layers=layers, embedding_size=EMBEDDING))
        self.generator = Generator(self.model, self.vocab)
        self.one_step = _tutorial_one_step(self.model, self.vocab)
        self.tf = tf

    def run(self, peer, batch, num_chars):
        import numpy as np

        if peer == "tfcharrnn":
            prompt = np.tile(self.vocab.encode("ROMEO:").astype(np.int32)[None, :], (batch, 1))
            out = self.generator.generate(prompt, prompt.shape[1], num_chars, np.arange(batch), temperature=1.0)
            assert out.shape == (batch, num_chars)
        elif peer == "onestep":
            tf = self.tf
            states = None
            next_char = tf.constant(["ROMEO:"] * batch)
            result = [next_char]
            for _ in range(num_chars):
                next_char, states = self.one_step(next_char, states)
                result.append(next_char)
            tf.strings.join(result).numpy()
        else:
            raise ValueError(peer)


def _tutorial_one_step(model, vocab, temperature=1.0):
    """OneStep of the TF text-generation tutorial, on the CharRNN's Keras layers (call on a length-1 sequence)."""
    import keras
    import tensorflow as tf

    chars = list(vocab.chars)
    ids_from_chars = keras.layers.StringLookup(vocabulary=chars, mask_token=None, num_oov_indices=0)
    chars_from_ids = keras.layers.StringLookup(vocabulary=chars, invert=True, mask_token=None, num_oov_indices=0)
    prediction_mask = tf.zeros([vocab.size])  # the tutorial masks "[UNK]"; this vocabulary has none

    @tf.function
    def generate_one_step(inputs, states=None):
        input_chars = tf.strings.unicode_split(inputs, "UTF-8")
        input_ids = tf.cast(ids_from_chars(input_chars).to_tensor(), tf.int32)
        predicted_logits, states = model(input_ids, states)
        predicted_logits = predicted_logits[:, -1, :] / temperature + prediction_mask
        predicted_ids = tf.squeeze(tf.random.categorical(predicted_logits, num_samples=1), axis=-1)
        return chars_from_ids(predicted_ids), states

    return generate_one_step


class TorchGenerate:
    def __init__(self, kind, hidden, layers):
        import torch

        torch.manual_seed(0)
        rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[kind]
        self.embedding = torch.nn.Embedding(VOCAB_SIZE, EMBEDDING)
        self.rnn = rnn(EMBEDDING, hidden, layers, batch_first=True)
        self.head = torch.nn.Linear(hidden, VOCAB_SIZE)

    def run(self, peer, batch, num_chars):
        import torch

        with torch.inference_mode():
            ids = torch.randint(0, VOCAB_SIZE, (batch, 6))  # a 6-character prompt, read at once
            state, out = None, []
            for _ in range(num_chars):
                h, state = self.rnn(self.embedding(ids), state)
                probs = torch.softmax(self.head(h[:, -1]), dim=-1)
                ids = torch.multinomial(probs, 1)
                out.append(ids)
            torch.cat(out, 1).numpy()


def _make_peer(spec, threads=0):
    kind = spec["peer"]
    _set_threads(threads, "torch" if kind.endswith("torch") else "tf")
    if kind == "train-tfcharrnn":
        return TfcharrnnTrain(*spec["config"], fused=spec.get("fused", True), jit=spec.get("jit", False), bf16=spec.get("bf16", False),
                              row_groups=spec.get("row_groups"), layer_groups=spec.get("layer_groups", False))
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


def worker_main(threads):
    """Serve JSON commands on stdin; answer on the original stdout (everything else goes to stderr)."""
    reply = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # stray prints (Keras, C++ logging) must not corrupt the protocol
    sys.stdout = sys.stderr
    peers = {}
    for line in sys.stdin:
        cmd = json.loads(line)
        try:
            op = cmd["op"]
            if op == "quit":
                reply.write(json.dumps({"ok": True}) + "\n")
                return
            if op == "setup":
                peer = _make_peer(cmd["spec"], threads)
                peers[cmd["name"]] = peer
                warm = cmd.get("warmup_s", 1.0)
                if hasattr(peer, "step"):
                    _timed(peer.step, warm, min_steps=3)  # tracing, graph optimisation, allocator warm-up
                elif isinstance(peer, KerasFitTrain):
                    peer.fit(3)
                info = peer.info() if hasattr(peer, "info") else {}
                if "torch" in sys.modules:
                    import torch

                    info["torch_threads"] = torch.get_num_threads()
                if "tensorflow" in sys.modules:
                    import tensorflow as tf

                    info["tf_intra_op_threads"] = tf.config.threading.get_intra_op_parallelism_threads()
                    info["tf_inter_op_threads"] = tf.config.threading.get_inter_op_parallelism_threads()
                reply.write(json.dumps({"ok": True, "info": info}) + "\n")
            elif op == "measure":
                peer = peers[cmd["name"]]
                seconds = cmd["seconds"]
                if isinstance(peer, KerasFitTrain):
                    steps = max(2, int(round(seconds / max(peer.step_s, 1e-6))))
                    n, wall, cpu = peer.fit(steps)
                    work = n * peer.chars
                elif hasattr(peer, "step"):
                    n, wall, cpu = _timed(peer.step, seconds)
                    work = n * (peer.flops if hasattr(peer, "flops") else peer.chars)
                else:  # generation: one run of num_chars at this batch size
                    gen_peer, batch, num_chars = cmd["gen"]
                    c0, t0 = time.process_time(), time.perf_counter()
                    peer.run(gen_peer, batch, num_chars)
                    wall, cpu, n = time.perf_counter() - t0, time.process_time() - c0, 1
                    work = batch * num_chars
                reply.write(json.dumps({"ok": True, "steps": n, "wall_s": wall, "cpu_s": cpu, "rate": work / wall, "cpu_rate": work / max(cpu, 1e-9)}) + "\n")
            elif op == "warm-gen":
                gen_peer, batch, num_chars = cmd["gen"]
                peers[cmd["name"]].run(gen_peer, batch, num_chars)
                reply.write(json.dumps({"ok": True}) + "\n")
            elif op == "call":  # a module's own benchmark function (bench_serving, bench_tflite)
                reply.write(json.dumps({"ok": True, "result": _call_module_bench(cmd)}, default=str) + "\n")
            else:
                raise ValueError(f"unknown op {op!r}")
        except Exception as e:  # report, keep serving
            import traceback

            traceback.print_exc()
            reply.write(json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}"}) + "\n")


def _call_module_bench(cmd):
    which = cmd["which"]
    kind, hidden, layers = cmd["config"]
    if which == "serving":
        from tfcharrnn.export import bench_serving

        corpus = _tiny_shakespeare()
        r = bench_serving(num_layers=layers, hidden_size=hidden, num_chars=cmd["num_chars"], batch=cmd["batch"], repeats=cmd["repeats"],
                          model_kind=kind, vocab=corpus.vocab, log=lambda *a, **k: None)
        return {"batch1_chars_per_s": r["num_chars"] / r["serving_s"], f"batch{cmd['batch']}_chars_per_s": cmd["batch"] * r["num_chars"] / r["serving_batch_s"],
                "raw": r}
    if which == "tflite":
        import keras

        from tfcharrnn.config import ModelConfig
        from tfcharrnn.model import CharRNN
        from tfcharrnn.tflite_export import bench_tflite

        corpus = _tiny_shakespeare()
        keras.utils.set_random_seed(0)
        model = CharRNN(ModelConfig(vocab_size=corpus.vocab.size, model=kind, hidden_size=hidden, num_layers=layers, embedding_size=EMBEDDING))
        r = bench_tflite(model, corpus.vocab, num_chars=cmd["num_chars"], repeats=cmd["repeats"], compare_keras=False)
        return {"batch1_chars_per_s": r["tflite_chars_per_s"], "raw": r}
    raise ValueError(which)


# =============================================================================================
# parent side


class Worker:
    def __init__(self, name, threads, log_dir):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
        self.name = name
        self.log_path = os.path.join(log_dir, f"worker-{name}.log")
        self.log = open(self.log_path, "w")
        cmd = [sys.executable, os.path.abspath(__file__), "--worker"] + (["--threads", str(threads)] if threads else [])
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


def _median(xs):
    return statistics.median(xs) if xs else None


class Jobs:
    """Peers by name, each set up in a worker process ({name: spec}; spec["process"] groups several
    peers into one process, spec["threads"] overrides the thread count), measured by name."""

    def __init__(self, jobs, threads, log_dir, notes):
        self.workers, self.where, self.info = {}, {}, {}
        for name, spec in jobs.items():
            key = spec.get("process", name)
            if key not in self.workers:
                self.workers[key] = Worker(key, spec.get("threads", threads), log_dir)
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


def _interleave(jobs, repeats, seconds, log, label):
    """Round-robin measurement: {name: [round results]}."""
    rounds = {name: [] for name in jobs.ready}
    for r in range(repeats):
        for name in jobs.ready:
            rounds[name].append(jobs.call(name, op="measure", seconds=seconds))
        log(f"  {label} round {r + 1}/{repeats}: " + ", ".join(f"{n} {rounds[n][-1]['rate']:,.0f}" for n in jobs.ready))
    return rounds


def _trainer_defaults():
    from tfcharrnn.training import TrainConfig

    d = TrainConfig()
    return {"fused": d.fused, "jit": d.jit}


def run_train(args, results, notes, log):
    configs = QUICK_TRAIN if args.quick else FULL_TRAIN
    if args.configs:
        wanted = [c.strip() for c in args.configs.split(",") if c.strip()]
        unknown = [c for c in wanted if c not in configs]
        if unknown:
            raise SystemExit(f"unknown training config(s) {unknown}; known: {', '.join(configs)}")
        configs = {c: configs[c] for c in wanted}
    have_torch = torch_available()
    if not have_torch:
        notes.append("PyTorch is not installed: its training and generation rows are skipped (pip install -e .[bench])")
    defaults = _trainer_defaults()
    peers = [p for p in args.train_peers.split(",") if p]
    if defaults["jit"] and "tfcharrnn-jit" in peers:
        peers.remove("tfcharrnn-jit")  # the default already is
    labels = dict(TRAIN_PEERS)
    labels["tfcharrnn"] = f"tfcharrnn Trainer (defaults: fused={defaults['fused']}, jit={defaults['jit']})"
    out = {}
    for cname, config in configs.items():
        kind = config[0]
        jobs = {}
        for p in peers:
            spec = {"config": list(config), "warmup_s": 0.3 if args.quick else 2.0}
            if args.quick:
                spec["process"] = "torch" if p.startswith("torch") else "tf"  # fewer TensorFlow start-ups
            if p == "tfcharrnn":
                jobs[p] = dict(spec, peer="train-tfcharrnn")
            elif p == "tfcharrnn-layergroups":
                jobs[p] = dict(spec, peer="train-tfcharrnn", layer_groups=True)
            elif p == "tfcharrnn-1group":
                jobs[p] = dict(spec, peer="train-tfcharrnn", row_groups=1)
            elif p == "tfcharrnn-jit":
                jobs[p] = dict(spec, peer="train-tfcharrnn", jit=True)
            elif p == "tfcharrnn-bf16":
                jobs[p] = dict(spec, peer="train-tfcharrnn", bf16=True)
            elif p == "tfcharrnn-keras":
                jobs[p] = dict(spec, peer="train-tfcharrnn", fused=False)
            elif p == "keras-fit":
                jobs[p] = dict(spec, peer="train-keras-fit")
            elif p == "torch":
                if have_torch:
                    jobs[p] = dict(spec, peer="train-torch")
                    if not args.quick and args.threads != 1:  # PyTorch's best: its default threads, or one
                        jobs["torch-1t"] = dict(spec, peer="train-torch", threads=1)
            else:
                raise SystemExit(f"unknown training peer {p!r}; known: {', '.join(TRAIN_PEERS)}")
        log(f"train {cname}: {config[2]}x{config[1]} {kind}, batch {config[3]} x seq {config[4]}: setting up {', '.join(jobs)}")
        workers = Jobs(jobs, args.threads, args.log_dir, notes)
        try:
            rounds = _interleave(workers, args.repeats, args.seconds, log, f"train {cname}")
        finally:
            workers.close()
        flops = train_flops_per_char(kind, config[1], config[2])
        entry = {"model": kind, "hidden_size": config[1], "num_layers": config[2], "batch_size": config[3], "seq_length": config[4],
                 "vocab_size": VOCAB_SIZE, "embedding_size": EMBEDDING, "matmul_params": matmul_params(kind, config[1], config[2]),
                 "flops_per_char": flops, "peers": {}}
        for name, rs in rounds.items():
            rate = _median([r["rate"] for r in rs])
            threads = workers.info.get(name, {})
            label = labels[name]
            if name == "torch-1t":
                label = f"PyTorch nn.{kind.upper()} + Adam, 1 thread"
            elif name == "torch":
                label = f"PyTorch nn.{kind.upper()} + Adam, {threads.get('torch_threads', '?')} threads"
            entry["peers"][name] = {"label": label, "chars_per_s": rate, "gflops": rate * flops / 1e9,
                                    "cpu_chars_per_s": _median([r["cpu_rate"] for r in rs]),
                                    "rounds": [r["rate"] for r in rs], "threads": threads}
        torch_names = [n for n in ("torch", "torch-1t") if n in entry["peers"]]
        if torch_names:  # compare against PyTorch's faster thread setting in this run
            best = max(torch_names, key=lambda n: entry["peers"][n]["chars_per_s"])
            entry["pytorch_reference"] = best
        base = entry["peers"].get("tfcharrnn", {}).get("chars_per_s")
        for ref_key, ref in (("pytorch", entry.get("pytorch_reference")), ("keras-fit", "keras-fit" if "keras-fit" in entry["peers"] else None)):
            if ref and base:
                # the ratio of medians, and per-round ratios (rounds are adjacent in time)
                entry[f"tfcharrnn_vs_{ref_key}"] = base / entry["peers"][ref]["chars_per_s"]
                entry[f"tfcharrnn_vs_{ref_key}_rounds"] = [a["rate"] / b["rate"] for a, b in zip(rounds["tfcharrnn"], rounds[ref])]
        out[cname] = entry
    results["train"] = out


def run_peak(args, results, notes, log):
    n = 512 if args.quick else 2048
    jobs = {"tf": {"peer": "peak-tf", "n": n, "warmup_s": 0.3 if args.quick else 1.0}}
    if torch_available():
        jobs["torch"] = {"peer": "peak-torch", "n": n, "warmup_s": 0.3 if args.quick else 1.0}
    log(f"peak: float32 matmul {n}x{n} @ {n}x{n}")
    workers = Jobs(jobs, args.threads, args.log_dir, notes)
    info = workers.info
    try:
        rounds = _interleave(workers, args.repeats, max(0.2, args.seconds / 2), log, "peak FLOP/s")
    finally:
        workers.close()
    per = {name: _median([r["rate"] for r in rs]) / 1e9 for name, rs in rounds.items()}
    best = max(per.values()) if per else None
    results["peak"] = {"n": n, "gflops": best, "by_library": per, "rounds": {k: [r["rate"] / 1e9 for r in v] for k, v in rounds.items()},
                       "threads": info}


def run_generate(args, results, notes, log):
    configs = QUICK_GEN if args.quick else FULL_GEN
    num_chars = 30 if args.quick else 400
    batches = (1, 4) if args.quick else (1, 32)
    out = {}
    for cname, config in configs.items():
        jobs = {"tf": {"peer": "gen-tf", "config": list(config)}}
        if torch_available():
            jobs["torch"] = {"peer": "gen-torch", "config": list(config)}
            if not args.quick and args.threads != 1:
                jobs["torch-1t"] = {"peer": "gen-torch", "config": list(config), "threads": 1}
        log(f"generate {cname}: {config[2]}x{config[1]} {config[0]}, {num_chars} chars at batch {', '.join(map(str, batches))}")
        workers = Jobs(jobs, args.threads, args.log_dir, notes)
        gen_peers = [("tfcharrnn", "tf"), ("onestep", "tf")] + [(t, t) for t in ("torch", "torch-1t") if t in workers.ready]
        rounds = {(p, b): [] for p, _ in gen_peers for b in batches}
        extra = {}
        try:
            for p, w in gen_peers:
                for b in batches:
                    workers.call(w, op="warm-gen", gen=[p, b, min(num_chars, 20)])
            for r in range(args.repeats):
                for b in batches:
                    for p, w in gen_peers:
                        rounds[(p, b)].append(workers.call(w, op="measure", seconds=0, gen=[p, b, num_chars]))
                log(f"  generate {cname} round {r + 1}/{args.repeats}: " + ", ".join(f"{p}@{b} {rounds[(p, b)][-1]['rate']:,.0f}" for p, _ in gen_peers for b in batches))
            extra = _module_benches(workers, config, num_chars, max(batches), args, notes, log)
        finally:
            workers.close()
        entry = {"model": config[0], "hidden_size": config[1], "num_layers": config[2], "num_chars": num_chars, "peers": {}}
        for p, _ in gen_peers:
            entry["peers"][p] = {"label": GEN_PEERS[p]}
            for b in batches:
                entry["peers"][p][f"batch{b}_chars_per_s"] = _median([x["rate"] for x in rounds[(p, b)]])
                entry["peers"][p][f"batch{b}_rounds"] = [x["rate"] for x in rounds[(p, b)]]
        if "serving_2000" in extra:
            entry["serving_2000"] = extra.pop("serving_2000")
        entry["peers"].update(extra)
        entry["batches"] = list(batches)
        out[cname] = entry
    results["generate"] = out


def _module_benches(worker, config, num_chars, batch, args, notes, log):
    """SavedModel serving_default and the LiteRT sampler, through their modules' own bench functions."""
    import importlib.util

    extra = {}
    repeats = 1 if args.quick else 3
    if args.quick:
        notes.append("--quick: the SavedModel and TFLite generation rows are skipped (they export and convert a model)")
        return extra
    if importlib.util.find_spec("tfcharrnn.export") is not None:
        try:
            r = worker.call("tf", op="call", which="serving", config=list(config), num_chars=num_chars, batch=batch, repeats=repeats)["result"]
            extra["savedmodel"] = {"label": "SavedModel serving_default (export.bench_serving, best of its repeats)",
                                   "batch1_chars_per_s": r["batch1_chars_per_s"], f"batch{batch}_chars_per_s": r[f"batch{batch}_chars_per_s"]}
            log(f"  SavedModel serving_default: {r['batch1_chars_per_s']:,.0f} chars/s at batch 1")
            # issue 3's setting: one request of 2,000 characters against the OneStep loop, same process
            raw = worker.call("tf", op="call", which="serving", config=list(config), num_chars=2000, batch=32, repeats=repeats)["result"]["raw"]
            paired = raw["paired_speedup_vs_onestep"]
            extra["serving_2000"] = {k: raw[k] for k in ("speedup_vs_onestep", "paired_speedup_vs_onestep", "speedup_vs_onestep_session",
                                                         "batch_cost", "serving_us_per_char", "onestep_us_per_char")}
            notes.append(f"{config[2]}x{config[1]} {config[0]}, batch 1, 2,000 characters: SavedModel serving_default "
                         f"{raw['speedup_vs_onestep']:.1f}x the OneStep loop (per round {paired['min']:.1f}-{paired['max']:.1f}x; "
                         f"{raw['speedup_vs_onestep_session']:.1f}x through the TF1 session loader TF Serving uses); "
                         f"a batch of 32 prompts costs {raw['batch_cost']:.1f}x one prompt")
        except (RuntimeError, KeyError) as e:
            notes.append(f"SavedModel serving benchmark failed, skipped: {str(e).splitlines()[0][:300]}")
    else:
        notes.append("tfcharrnn.export is absent: SavedModel serving row skipped")
    if importlib.util.find_spec("tfcharrnn.tflite_export") is not None:
        try:
            r = worker.call("tf", op="call", which="tflite", config=list(config), num_chars=num_chars, repeats=repeats)["result"]
            extra["tflite"] = {"label": "LiteRT sampler, 1 thread (tflite_export.bench_tflite, best of its repeats)",
                               "batch1_chars_per_s": r["batch1_chars_per_s"]}
            log(f"  LiteRT sampler: {r['batch1_chars_per_s']:,.0f} chars/s at batch 1")
        except (RuntimeError, KeyError) as e:
            notes.append(f"TFLite sampler benchmark failed, skipped: {str(e).splitlines()[0][:300]}")
    else:
        notes.append("tfcharrnn.tflite_export is absent: TFLite row skipped")
    return extra


# --- corpus preparation -------------------------------------------------------------------------


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


def _run_child(args_list, env, timeout=600):
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, os.path.abspath(__file__)] + args_list, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    wall = time.perf_counter() - t0
    lines = [line for line in p.stdout.splitlines() if line.startswith("RESULT ")]
    if p.returncode != 0 or not lines:
        raise RuntimeError(f"child {' '.join(args_list)} failed (rc {p.returncode}): {p.stderr[-2000:]}")
    r = json.loads(lines[-1][len("RESULT "):])
    r["process_wall_s"] = wall
    return r


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
    env = dict(os.environ, TFCHARRNN_CACHE=cache, TF_CPP_MIN_LOG_LEVEL="3")
    first = _run_child(["--child", "prep", path], env)
    log(f"  first run:  {first['seconds']:.2f}s, peak RSS {first['peak_rss_mb']:.0f} MB")
    cached = _run_child(["--child", "prep", path], env)
    log(f"  cached run: {cached['seconds']:.2f}s, peak RSS {cached['peak_rss_mb']:.0f} MB")
    steps = 5 if args.quick else 20
    train = _run_child(["--child", "train-start", path, "--steps", str(steps)], env)
    log(f"  training (cached): first step {train['first_step_s']:.2f}s after Trainer() (init {train['trainer_init_s']:.2f}s), {train['first_step_from_process_start_s']:.2f}s after "
        f"process start; peak RSS {train['peak_rss_mb']:.0f} MB over {steps} steps")
    results["prep"] = {"corpus": corpus, "first_run": first, "cached_run": cached, "train_cached": train,
                       "targets": {"prep_s": 15.0, "train_start_s": 3.0, "train_peak_rss_mb": 1536.0}}


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


def child_main(args):
    if args.child == "prep":
        from tfcharrnn.data import encode_files

        rss0 = _peak_rss_mb()
        t0 = time.perf_counter()
        vocab, ids = encode_files([args.path])
        n = int(len(ids))
        checksum = int(ids[:: max(1, n // 1000)].astype("int64").sum())  # touch the ids (mmap of a cached run)
        seconds = time.perf_counter() - t0
        print("RESULT " + json.dumps({"seconds": seconds, "peak_rss_mb": _peak_rss_mb(), "rss_before_mb": rss0, "chars": n,
                                      "vocab_size": vocab.size, "dtype": str(ids.dtype), "checksum": checksum}))
    elif args.child == "train-start":
        import tensorflow as tf  # noqa: F401  (timed apart: every TensorFlow program pays it)

        from tfcharrnn.training import TrainConfig, Trainer

        marks = {}
        imports_s = _process_age_s()

        def log(msg, *a, **k):
            if "| epoch" in str(msg) and "first" not in marks:
                marks["first"] = time.perf_counter()

        workdir = tempfile.mkdtemp(prefix="tfcharrnn-bench-start-")
        cfg = TrainConfig(train_data=args.path, hidden_size=128, num_layers=2, batch_size=64, seq_length=100, max_steps=args.steps, max_epochs=0,
                          val_frac=0.0, eval_val_every=0, sample_every=0, sample_length=0, iters_to_report=1, checkpoint_dir=workdir)
        t0 = time.perf_counter()
        trainer = Trainer(cfg, log=log)
        t_init = time.perf_counter() - t0
        result = trainer.run()
        total = time.perf_counter() - t0
        shutil.rmtree(workdir, ignore_errors=True)
        first = marks.get("first", t0 + total) - t0
        print("RESULT " + json.dumps({"first_step_s": first, "trainer_init_s": t_init, "corpus_load_s": trainer.prep_seconds,
                                      "first_step_compile_s": first - t_init, "imports_s": imports_s,
                                      "first_step_from_process_start_s": imports_s + first, "steps": result["step"], "run_s": total,
                                      "peak_rss_mb": _peak_rss_mb(), "chars": trainer.corpus.num_chars,
                                      "model": "2x128 lstm, batch 64 x seq 100"}))
    else:
        raise SystemExit(f"unknown child {args.child}")


# --- machine, output --------------------------------------------------------------------------


def machine_info(threads) -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version(), "cpu_count": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        for line in text.splitlines():
            if line.startswith("model name") and "cpu" not in info:
                info["cpu"] = line.split(":", 1)[1].strip()
            if line.startswith("flags") and "flags" not in info:
                flags = set(line.split(":", 1)[1].split())
                info["flags"] = sorted(f for f in flags if f.startswith(("avx", "amx", "fma")))
        with open("/proc/meminfo") as f:
            info["memory_gb"] = round(int(f.readline().split()[1]) / 1e6, 1)
    except OSError:
        pass
    try:
        import importlib.metadata as md

        for pkg in ("tensorflow", "keras", "torch", "numpy"):
            try:
                info[pkg] = md.version(pkg)
            except md.PackageNotFoundError:
                pass
    except ImportError:
        pass
    info["threads"] = threads or "library defaults"
    return info


def _fmt(x, digits=0):
    if x is None:
        return "-"
    return f"{x:,.{digits}f}"


def to_markdown(results) -> str:
    m = results["machine"]
    lines = ["## Performance", ""]
    lines.append(f"Measured {results['started']} on {m.get('cpu', 'unknown CPU')} ({m.get('cpu_count')} logical cores, "
                 f"{m.get('memory_gb', '?')} GB; {', '.join(f for f in m.get('flags', []) if f in ('avx2', 'avx512f', 'avx512_bf16', 'amx_bf16'))}), "
                 f"TensorFlow {m.get('tensorflow', '-')}, Keras {m.get('keras', '-')}, PyTorch {m.get('torch', 'not installed')}; "
                 f"threads: {m.get('threads')}. Load average before / after: {results['load_before']} / {results.get('load_after')}.")
    lines.append("")
    lines.append(f"Command: `{results['command']}`. Each peer runs in its own process; peers are measured interleaved, "
                 f"{results['settings']['repeats']} rounds of ~{results['settings']['seconds']:g} s each, medians reported.")
    lines.append("")
    peak = results.get("peak", {}).get("gflops")
    if "train" in results:
        lines += ["### Training (characters per second, steady state)", ""]
        lines.append("| config | peer | chars/s | vs PyTorch | vs model.fit | GFLOP/s | of matmul peak |")
        lines.append("|---|---|---:|---:|---:|---:|---:|")
        for cname, e in results["train"].items():
            cfg = f"{cname}: {e['num_layers']}x{e['hidden_size']} {e['model'].upper()}, b{e['batch_size']} s{e['seq_length']}"
            ref = e.get("pytorch_reference")
            torch_rate = e["peers"][ref]["chars_per_s"] if ref else None
            fit_rate = e["peers"].get("keras-fit", {}).get("chars_per_s")
            for name, p in e["peers"].items():
                rate = p["chars_per_s"]
                vs_t = f"{rate / torch_rate:.2f}x" if torch_rate else "-"
                vs_f = f"{rate / fit_rate:.2f}x" if fit_rate else "-"
                of_peak = f"{100 * p['gflops'] / peak:.0f}%" if peak else "-"
                label = f"**{p['label']}**" if name == "tfcharrnn" else p["label"]
                if name == ref and len([n for n in e["peers"] if n.startswith("torch")]) > 1:
                    label += " (the faster PyTorch setting: the reference)"
                lines.append(f"| {cfg} | {label} | {_fmt(rate)} | {vs_t} | {vs_f} | {_fmt(p['gflops'], 1)} | {of_peak} |")
        lines.append("")
        lines.append("GFLOP/s counts 6 x (parameters in matmuls) per character: forward 2x, backward 4x; "
                     "the cells' input and recurrent kernels and the output layer.")
        lines.append("")
    if "peak" in results:
        p = results["peak"]
        libs = ", ".join(f"{k} {v:,.0f}" for k, v in p["by_library"].items())
        lines.append(f"Float32 matmul peak of this machine ({p['n']}x{p['n']} @ {p['n']}x{p['n']}, same run): **{_fmt(p['gflops'])} GFLOP/s** ({libs}).")
        lines.append("")
    if "generate" in results:
        lines += ["### Generation (characters per second)", ""]
        for cname, e in results["generate"].items():
            bs = e["batches"]
            lines.append(f"{cname}: {e['num_layers']}x{e['hidden_size']} {e['model'].upper()}, {e['num_chars']} characters per row")
            lines.append("")
            lines.append("| peer | " + " | ".join(f"batch {b}" for b in bs) + " |")
            lines.append("|---|" + "---:|" * len(bs))
            for name, p in e["peers"].items():
                label = f"**{p['label']}**" if name == "tfcharrnn" else p["label"]
                lines.append(f"| {label} | " + " | ".join(_fmt(p.get(f"batch{b}_chars_per_s")) for b in bs) + " |")
            lines.append("")
    if "prep" in results:
        p = results["prep"]
        mb = p["corpus"]["bytes"] / 1e6
        t = p["train_cached"]
        lines += [f"### Corpus preparation ({mb:.0f} MB UTF-8 corpus, {p['first_run']['chars']:,} characters, vocabulary {p['first_run']['vocab_size']})", ""]
        lines.append("| stage | seconds | peak RSS (MB) |")
        lines.append("|---|---:|---:|")
        lines.append(f"| encode, first run (read, vocabulary, ids, write cache) | {p['first_run']['seconds']:.2f} | {p['first_run']['peak_rss_mb']:.0f} |")
        lines.append(f"| encode, cached run (ids memory-mapped) | {p['cached_run']['seconds']:.2f} | {p['cached_run']['peak_rss_mb']:.0f} |")
        lines.append(f"| training on it, cached ({t.get('model', '')}): Trainer() to the first step done = {t['trainer_init_s']:.2f} s Trainer() "
                     f"(corpus {t.get('corpus_load_s', 0):.2f} s) + {t.get('first_step_compile_s', 0):.2f} s first step (tracing, compiling); "
                     f"{t['first_step_from_process_start_s']:.1f} s from process start ({t['imports_s']:.1f} s Python + TensorFlow imports) "
                     f"| {t['first_step_s']:.2f} | {t['peak_rss_mb']:.0f} (whole run, {t['steps']} steps) |")
        lines.append("")
    if results.get("notes"):
        lines += ["Notes:", ""] + [f"- {n}" for n in results["notes"]] + [""]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny sizes and short rounds: a smoke test in seconds")
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections: {', '.join(SECTIONS)}")
    ap.add_argument("--out", default="bench_results", help="directory for bench.json and bench.md")
    ap.add_argument("--repeats", type=int, default=None, help="interleaved rounds per peer (default 5; --quick 2)")
    ap.add_argument("--seconds", type=float, default=None, help="seconds per training round (default 3; --quick 0.2)")
    ap.add_argument("--threads", type=int, default=0, help="intra/inter-op threads for every peer (TF and torch); 0 = library defaults")
    ap.add_argument("--train-peers", default="tfcharrnn,tfcharrnn-layergroups,tfcharrnn-1group,tfcharrnn-jit,tfcharrnn-bf16,tfcharrnn-keras,keras-fit,torch",
                    help=f"training peers, comma separated (known: {', '.join(TRAIN_PEERS)})")
    ap.add_argument("--configs", default="", help=f"training configs, comma separated (default all: {', '.join(FULL_TRAIN)})")
    ap.add_argument("--tmp-dir", default=tempfile.gettempdir(), help="where the 100 MB corpus and its cache go (not the repo)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--steps", type=int, default=20, help=argparse.SUPPRESS)
    ap.add_argument("path", nargs="?", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker_main(args.threads)
    if args.child:
        return child_main(args)

    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        ap.error(f"unknown section(s) {unknown}; known: {', '.join(SECTIONS)}")
    args.repeats = args.repeats or (2 if args.quick else 5)
    args.seconds = args.seconds if args.seconds is not None else (0.2 if args.quick else 3.0)
    os.makedirs(args.out, exist_ok=True)
    args.log_dir = os.path.join(args.out, "logs")
    os.makedirs(args.log_dir, exist_ok=True)

    def log(msg):
        print(msg, flush=True)

    results = {"started": datetime.datetime.now().isoformat(timespec="seconds"), "command": " ".join(["python", "scripts/bench.py"] + (argv if argv is not None else sys.argv[1:])),
               "settings": {"quick": args.quick, "repeats": args.repeats, "seconds": args.seconds, "threads": args.threads, "sections": only},
               "machine": machine_info(args.threads), "load_before": [round(x, 2) for x in os.getloadavg()], "notes": []}
    notes = results["notes"]
    t0 = time.perf_counter()
    runners = {"peak": run_peak, "train": run_train, "generate": run_generate, "prep": run_prep}
    for section in ("peak", "train", "generate", "prep"):  # peak first: the table needs it
        if section in only:
            try:
                runners[section](args, results, notes, log)
            except Exception as e:  # one broken section must not lose the others
                notes.append(f"section {section} failed: {type(e).__name__}: {str(e)[:500]}")
                log(f"section {section} failed: {e}")
    results["load_after"] = [round(x, 2) for x in os.getloadavg()]
    results["total_s"] = time.perf_counter() - t0
    if results["load_before"][0] > 0.5 * (os.cpu_count() or 1):  # the load after includes this benchmark's own workers
        notes.append(f"other processes were busy when the benchmark started (1-minute load {results['load_before'][0]} on "
                     f"{os.cpu_count()} cores): absolute numbers are low and noisy; the ratios come from interleaved rounds of the same run")
    json_path = os.path.join(args.out, "bench.json")
    md_path = os.path.join(args.out, "bench.md")
    with open(json_path, "w") as f:
        json.dump(results, f, indent=1)
    with open(md_path, "w") as f:
        f.write(to_markdown(results) + "\n")
    log(f"wrote {json_path} and {md_path} ({results['total_s']:.0f}s)")
    print(to_markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
