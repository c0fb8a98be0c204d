"""Training peers: each one training step on real text, in steady state, built inside a worker.

    python scripts/bench.py --only train,peak [--configs small] [--train-peers tfcharrnn,torch]

  TfcharrnnTrain   tfcharrnn's Trainer.train_step on the Trainer's own stream batches (the code
                   path scripts/train.py runs), in the variants of TRAIN_PEERS; tfcharrnn-onednn-on
                   and -off are the default (autotuned in their own setting) with TF_ENABLE_ONEDNN_OPTS
                   forced in their worker process (ONEDNN_PEERS)
  KerasFitTrain    the TensorFlow text-generation tutorial: a subclassed model and model.fit
  TorchTrain       PyTorch nn.LSTM / nn.GRU with Adam, the same stream layout, state carried
  TfMatmulPeak, TorchMatmulPeak   this machine's float32 matmul rate (the table's "of peak")

Achieved GFLOP/s count 6 x parameters-in-matmuls per character (matmul_params).
"""

from __future__ import annotations

import math
import tempfile
import time

from benchmarks.common import EMBEDDING, VOCAB_SIZE, tiny_shakespeare
from tfcharrnn.training.train_path import ALIASES, NAMES

PATH_NAMES = NAMES + tuple(ALIASES)

GATES = {"lstm": 4, "gru": 3, "rnn": 1}

# name -> (model kind, hidden, layers, batch, seq)
FULL_TRAIN = {
    "small": ("lstm", 128, 2, 32, 64),
    "medium": ("lstm", 512, 2, 64, 100),
    "medium-gru": ("gru", 512, 2, 64, 100),
}
QUICK_TRAIN = {"tiny": ("lstm", 32, 2, 8, 16)}

# peer name -> a training path of tfcharrnn.training.train_path (None: the trainer's default, what scripts/train.py runs)
TFCHARRNN_PATHS = {"tfcharrnn": None, **{f"tfcharrnn-{name}": name for name in PATH_NAMES},
                   # the names earlier runs used
                   "tfcharrnn-layergroups": "layer-groups", "tfcharrnn-1group": "whole-batch", "tfcharrnn-jit": "xla",
                   "tfcharrnn-bf16": "layer-groups-bf16"}
# peer name -> the TF_ENABLE_ONEDNN_OPTS its worker process starts with (the trainer's default path otherwise)
ONEDNN_PEERS = {"tfcharrnn-onednn-on": "1", "tfcharrnn-onednn-off": "0"}
TRAIN_PEERS = {
    "tfcharrnn": "tfcharrnn Trainer (the default path)",
    "tfcharrnn-onednn-on": "tfcharrnn Trainer, oneDNN forced on (TF_ENABLE_ONEDNN_OPTS=1)",
    "tfcharrnn-onednn-off": "tfcharrnn Trainer, oneDNN forced off (TF_ENABLE_ONEDNN_OPTS=0)",
    **{f"tfcharrnn-{name}": f"tfcharrnn Trainer, path {name}" for name in PATH_NAMES},
    "tfcharrnn-layergroups": "tfcharrnn Trainer, path layer-groups (row groups inside each layer only)",
    "tfcharrnn-1group": "tfcharrnn Trainer, path whole-batch (one row group: no two loops side by side)",
    "tfcharrnn-jit": "tfcharrnn Trainer, path xla (whole step in XLA, --jit)",
    "tfcharrnn-bf16": "tfcharrnn Trainer, path layer-groups-bf16 (--matmul_dtype bfloat16, opt-in mixed precision)",
    "tfcharrnn-keras": "tfcharrnn Trainer, path keras (Keras layers in a tf.function step, --train_path keras)",
    "keras-fit": "Keras model.fit (TF text-generation tutorial)",
    "torch": "PyTorch nn.LSTM/nn.GRU + Adam",
    "torch-1t": "PyTorch nn.LSTM/nn.GRU + Adam, 1 thread",
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


class TfcharrnnTrain:
    """The Trainer's own compiled step on the Trainer's own stream batches, state carried; on the
    training path named ``path`` (None: the one the trainer picks by default)."""

    def __init__(self, kind, hidden, layers, batch, seq, path=None, workdir=None):
        from tfcharrnn.training import TrainConfig, Trainer, train_path

        # the plain cells the PyTorch peers run (the recipe's multiplicative integration costs ~5% a step: docs/performance.md)
        self.cfg = TrainConfig(train_data=None, model=kind, multiplicative_integration=False, hidden_size=hidden, num_layers=layers,
                               batch_size=batch, seq_length=seq, max_steps=10**9, max_epochs=0, quiet=True, eval_val_every=0, sample_every=0, val_frac=0.0,
                               checkpoint_dir=workdir or tempfile.mkdtemp(prefix="tfcharrnn-bench-"))
        self.tr = Trainer(self.cfg, path=train_path.named(path) if path else None)
        self.path = self.tr.path.name
        self.chars = batch * seq
        self.epoch, self.steps = 0, 0
        self._new_epoch()

    def info(self):
        from tfcharrnn import onednn

        return {"path": self.path, "onednn": onednn.enabled()}

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
        lr = tf.constant(learning_rate(self.tr.cfg, self.steps, self.epoch, 0.0), tf.float32)  # as Trainer.run does each step (the recipe filled in)
        loss, self.carry = self.tr.train_step(x, y, self.carry, lr)
        loss = float(loss)  # Trainer.run reads the loss every step
        if not math.isfinite(loss):
            raise RuntimeError(f"loss became {loss}")
        self.steps += 1


def _tutorial_model(kind, hidden, layers, vocab_size):
    """The tutorial's subclassed model: embedding, recurrent layers, dense logits."""
    import keras

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

    return MyModel()


class KerasFitTrain:
    """The TensorFlow text-generation tutorial: a subclassed model, compile('adam'), model.fit(dataset)."""

    def __init__(self, kind, hidden, layers, batch, seq):
        import keras
        import tensorflow as tf

        corpus = tiny_shakespeare()
        self.model = _tutorial_model(kind, hidden, layers, corpus.vocab.size)
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


def torch_net(kind, hidden, layers, vocab_size=VOCAB_SIZE, embedding=EMBEDDING):
    """Embedding, torch.nn.LSTM / GRU / RNN (batch first), a linear head: forward(x, state) -> logits, state."""
    import torch

    rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[kind]

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = torch.nn.Embedding(vocab_size, embedding)
            self.rnn = rnn(embedding, hidden, layers, batch_first=True)
            self.head = torch.nn.Linear(hidden, vocab_size)

        def forward(self, x, state=None):
            out, state = self.rnn(self.embedding(x), state)
            return self.head(out), state

    return Net()


def detach_state(state):
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


class TorchTrain:
    def __init__(self, kind, hidden, layers, batch, seq):
        import numpy as np
        import torch

        from tfcharrnn.data import BUNDLED, encode_text, read_text

        _, ids = encode_text(read_text([BUNDLED]))
        self.ids = torch.from_numpy(np.asarray(ids, dtype=np.int64))
        torch.manual_seed(0)
        self.net = torch_net(kind, hidden, layers)
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
        self.state = detach_state(state)
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
