"""CharRNN: embedding -> stacked LSTM / GRU / SimpleRNN -> dense logits from every layer, with explicit state.

    from tfcharrnn.config import ModelConfig
    from tfcharrnn.model import CharRNN
    model = CharRNN(ModelConfig(vocab_size=65, hidden_size=128, num_layers=2))
    logits, state = model(ids)                  # ids (B, T) int -> logits (B, T, V), state (B, S, H)
    logits, state = model(ids, state)           # carry the state on (truncated BPTT, prompts)
    logits, state = model.next(ids[:, 0], state)  # one step: (B,) -> (B, V): the sampling seam
    model.save("m.keras"); keras.saving.load_model("m.keras")   # Keras' format too (importing this module
                                                # registers CharRNN); tfcharrnn.checkpoint stays the default

The recurrent state is one float tensor of shape (B, S, H), S = num_layers x (2 for LSTM's
(h, c), 1 otherwise), layer-major: [h0, c0, h1, c1, ...]. One tensor is simple to carry in a
`tf.while_loop`, through a TF Serving signature and through a TFLite signature.

An LSTM may integrate multiplicatively (config.multiplicative_integration: MILSTMCell below, in a
keras.layers.RNN), which cuDNN does not run.

Whole sequences run through the model's recurrence (tfcharrnn.recurrence, the seam): by default
the Keras RNN layers, which pick the cuDNN kernel when a GPU is visible at trace time; on a CPU,
training passes `Recurrence.fused()` (same weights, same function, a faster gradient).
`next` calls the layers' cells directly, a single step that converts to plain TFLite builtins.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfcharrnn.config import ModelConfig  # noqa: E402
from tfcharrnn.recurrence import Recurrence  # noqa: E402

_LAYERS = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "rnn": keras.layers.SimpleRNN}


def embedding_stddev(width: int) -> float:
    """The embedding's initial spread: N(0, 1) up to 64 wide (as torch.nn.Embedding; with Keras' default
    U(-0.05, 0.05) a char-rnn sits on the unigram plateau, ~3.3 nats, for hundreds of steps), and from
    there 8 / sqrt(width), so that each character's vector starts as long as at 64 wide and a wider
    embedding does not make the first layer's input louder: at 256 wide, 3 minutes on Tiny Shakespeare,
    a spread of 0.5 scored 1.4037 against 1's 1.4106 (docs/performance.md, quality)."""
    return min(1.0, 8.0 / width ** 0.5)


@keras.saving.register_keras_serializable(package="tfcharrnn")
class MILSTMCell(keras.layers.LSTMCell):
    """An LSTM cell with multiplicative integration (config.multiplicative_integration; Wu et al. 2016,
    "On Multiplicative Integration with Recurrent Neural Networks"): the gates' pre-activations are
        z = alpha * xW * hR + beta_h * hR + beta_x * xW + b        (B, 4H), elementwise per gate column
    so the character read scales how the state enters each gate, a transition that depends on the
    input at no extra matmul. alpha starts at 0 and the betas at 1: a new cell is the LSTM."""

    def build(self, input_shape):
        super().build(input_shape)
        gates = 4 * self.units
        self.alpha = self.add_weight(shape=(gates,), initializer="zeros", name="integration_alpha")
        self.beta_h = self.add_weight(shape=(gates,), initializer="ones", name="integration_beta_h")
        self.beta_x = self.add_weight(shape=(gates,), initializer="ones", name="integration_beta_x")

    def call(self, inputs, states, training=False):
        h_prev, c_prev = states
        xw = keras.ops.matmul(inputs, self.kernel)  # (B, 4H)
        hr = keras.ops.matmul(h_prev, self.recurrent_kernel)  # (B, 4H)
        z = (self.alpha * xw + self.beta_h) * hr + self.beta_x * xw + self.bias
        c, o = self._compute_carry_and_output_fused(keras.ops.split(z, 4, axis=1), c_prev)
        h = o * self.activation(c)
        return h, [h, c]


def recurrent_layer(config: ModelConfig, index: int) -> keras.layers.Layer:
    """Layer ``index`` of the stack: Keras' LSTM / GRU / SimpleRNN, or an RNN of MILSTMCells."""
    kwargs = dict(return_sequences=True, return_state=True, name=f"{config.model}_{index}")
    if config.multiplicative_integration:
        return keras.layers.RNN(MILSTMCell(config.hidden_size, name="mi_lstm_cell"), **kwargs)
    # Default activations / use_bias / no recurrent dropout keep LSTM and GRU cuDNN-eligible.
    return _LAYERS[config.model](config.hidden_size, **kwargs)


@keras.saving.register_keras_serializable(package="tfcharrnn")
class CharRNN(keras.Model):
    def __init__(self, config: ModelConfig, recurrence: Recurrence | None = None, **kwargs):
        kwargs.setdefault("name", "char_rnn")
        super().__init__(**kwargs)
        self.config = config
        self.embedding = keras.layers.Embedding(
            config.vocab_size, config.embedding_size, name="embedding",
            embeddings_initializer=keras.initializers.RandomNormal(stddev=embedding_stddev(config.embedding_size)),
        )
        self.rnn_layers = [recurrent_layer(config, i) for i in range(config.num_layers)]
        self.dropouts = [keras.layers.Dropout(config.dropout, name=f"dropout_{i}") for i in range(config.num_layers)]
        self.head = keras.layers.Dense(config.vocab_size, name="logits")
        # Weight drop's masks come from a seeded Keras generator (keras.utils.set_random_seed), as Dropout's do.
        self.weight_drop_seed = keras.random.SeedGenerator(name="weight_drop_seed") if config.weight_drop else None
        self.recurrence = recurrence or Recurrence()  # runs the layers over whole sequences (call); `next` never uses it
        self(tf.zeros((1, 1), tf.int32), recurrence=Recurrence())  # create the variables now (the Keras layers build them), so weights can be loaded

    # Keras conventions: for keras.saving, model.save("m.keras") and the tools built on them -------
    def get_config(self) -> dict:
        """The constructor's arguments as plain values (ModelConfig and Recurrence as dicts)."""
        return {"name": self.name, "trainable": self.trainable, "config": self.config.to_dict(),
                "recurrence": dataclasses.asdict(self.recurrence)}

    @classmethod
    def from_config(cls, config: dict) -> "CharRNN":
        kwargs = dict(config)
        recurrence = kwargs.pop("recurrence", None)
        return cls(ModelConfig.from_dict(kwargs.pop("config")), recurrence=Recurrence(**recurrence) if recurrence else None, **kwargs)

    # state helpers ----------------------------------------------------------------------
    def initial_state(self, batch_size) -> tf.Tensor:
        """Zero state, (B, S, H)."""
        c = self.config
        return tf.zeros([batch_size, c.num_states, c.hidden_size], dtype=tf.float32)

    def _split_state(self, state):
        """(B, S, H) -> per layer, a list of (B, H) tensors."""
        k = self.config.states_per_layer
        rows = tf.unstack(state, num=self.config.num_states, axis=1)
        return [rows[i * k : (i + 1) * k] for i in range(self.config.num_layers)]

    @staticmethod
    def _join_state(per_layer) -> tf.Tensor:
        return tf.stack([s for layer_states in per_layer for s in layer_states], axis=1)  # (B, S, H)

    # whole sequences ----------------------------------------------------------------------
    def call(self, ids, states=None, training=False, masks=None, recurrence=None):
        """ids (B, T) -> logits (B, T, V), states (B, S, H). While training, dropout and weight drop
        apply ``masks`` (from draw_masks; drawn here when not given). ``recurrence`` overrides the
        model's own for this call."""
        ids = tf.cast(ids, tf.int32)
        if states is None:
            states = self.initial_state(tf.shape(ids)[0])
        if not training:
            masks = None
        elif masks is None:
            masks = self.draw_masks(tf.shape(ids)[0], tf.shape(ids)[1])
        recurrence = recurrence or self.recurrence
        x = recurrence.layer_input(self.embedding, ids)  # (B, T, E), or what the recurrence reads instead
        new_states, outputs = [], []
        for i, (layer, layer_state) in enumerate(zip(self.rnn_layers, self._split_state(states))):
            with self._weight_drop(layer, masks["weight_drop"][i] if masks and masks["weight_drop"] else None):
                x, layer_state = recurrence.run_layer(layer, x, layer_state, training)  # (B, T, H), [(B, H)] * k
            new_states.append(layer_state)
            if masks and masks["dropout"]:
                x = x * masks["dropout"][i]  # exactly keras.random.dropout(x): x * 1/(1-p) where kept, else 0
            outputs.append(x)
        logits = self.head(head_input(outputs, self.config.skip_connections))  # (B, T, V)
        return logits, self._join_state(new_states)

    def draw_masks(self, batch, steps) -> dict:
        """Training's random masks for a (batch, steps) input, from the model's seeded streams:
        "dropout": per layer a (B, T, H) mask of 0 and 1/(1-p) (Keras Dropout's draw, on ones);
        "weight_drop": per layer a (H, G) mask for the recurrent kernel. Empty lists when off.
        Drawing them apart from the call lets a caller split one batch's masks over row groups."""
        c = self.config
        weight_drop = [
            keras.random.dropout(tf.ones(layer.cell.recurrent_kernel.shape), c.weight_drop, seed=self.weight_drop_seed)
            for layer in self.rnn_layers
        ] if c.weight_drop else []
        dropout = [
            keras.random.dropout(tf.ones([batch, steps, c.hidden_size]), c.dropout, seed=d.seed_generator)  # (B, T, H)
            for d in self.dropouts
        ] if c.dropout else []
        return {"weight_drop": weight_drop, "dropout": dropout}

    def seed_generators(self) -> list:
        """The random streams training draws from (dropout, weight drop), in a fixed order: their
        states travel in checkpoints, so a resumed run draws the masks the straight run would."""
        generators = [getattr(d, "seed_generator", None) for d in self.dropouts] + [self.weight_drop_seed]
        return [g for g in generators if g is not None]

    def _weight_drop(self, layer, mask):
        """With a mask (training), the layer reads a dropped-out copy of its recurrent kernel (DropConnect).

        The same mask holds for every time step and row of the batch, so it regularises the
        recurrence itself, which ordinary dropout between layers never touches. A Keras
        StatelessScope substitutes the copy for the variable, so the Keras layers (cuDNN
        included) and the fused loops read it alike, and the gradient reaches the variable
        through the mask. The layers themselves assign nothing, which the scope would swallow.
        """
        if mask is None:
            return contextlib.nullcontext()
        kernel = layer.cell.recurrent_kernel  # (H, G)
        return keras.StatelessScope(state_mapping=[(kernel, tf.convert_to_tensor(kernel) * mask)])

    # one step: the seam every sampler uses --------------------------------------------------
    def next(self, ids, states):
        """ids (B,) int, states (B, S, H) -> logits (B, V), states (B, S, H)."""
        ids = tf.cast(ids, tf.int32)
        x = self.embedding(ids)  # (B, E)
        new_states, outputs = [], []
        for layer, layer_state in zip(self.rnn_layers, self._split_state(states)):
            x, cell_state = layer.cell(x, list(layer_state), training=False)  # (B, H)
            new_states.append(list(cell_state) if isinstance(cell_state, (list, tuple)) else [cell_state])
            outputs.append(x)
        logits = self.head(head_input(outputs, self.config.skip_connections))  # (B, V)
        return logits, self._join_state(new_states)

    def stepper(self) -> "Stepper":
        """`next` for a loop: the weight work done once, then about half the ops per step."""
        return Stepper(self)

    def count_params(self) -> int:  # noqa: D401 - Keras' own counts every built sublayer
        return int(sum(int(tf.size(w)) for w in self.trainable_weights))


def head_input(outputs: list, skip_connections: bool) -> tf.Tensor:
    """Per layer (..., H) -> what the output layer reads: (..., L x H) with skip connections, else the top layer's (..., H)."""
    return tf.concat(outputs, axis=-1) if skip_connections else outputs[-1]


def unigram_bias(train_ids, vocab_size: int) -> np.ndarray:
    """(V,) log-frequency of each character in the training text, add-one smoothed: a new model's
    output bias, so its first predictions are the text's own character frequencies instead of the
    uniform guess it would spend its first hundred steps unlearning (equal-step runs: 0.006-0.025
    nats/char lower at the end, docs/performance.md, quality)."""
    counts = np.bincount(np.asarray(train_ids).reshape(-1), minlength=vocab_size)[:vocab_size] + 1.0  # (V,)
    return np.log(counts / counts.sum()).astype(np.float32)


def unseen_chars(train_ids, vocab_size: int, share: float | None = None) -> tuple[np.ndarray, float]:
    """The characters of the vocabulary that the training text never shows, (A,) ids, and the share
    of probability training leaves them: ``share``, or Good-Turing's estimate of how often a text
    like this one shows a character it has not shown before (N1 / N: the fraction of its characters
    whose kind occurs in it once). Without it their probability is driven towards zero, and each one
    in validation costs ~19 nats (docs/performance.md, quality: the Chinese split)."""
    counts = np.bincount(np.asarray(train_ids).reshape(-1), minlength=vocab_size)[:vocab_size]  # (V,)
    absent = np.flatnonzero(counts == 0).astype(np.int32)
    if share is None:
        share = float((counts == 1).sum() / max(int(counts.sum()), 1))
    return absent, share if len(absent) else 0.0


class Stepper:
    """The seam `next(ids, state) -> (logits, state)`, specialised for a generation loop.

        step = model.stepper()                     # once per request, outside the loop
        carry = step.split(state)                  # (B, S, H) -> tuple of S (B, H) tensors
        logits, carry = step(ids, carry)           # per character, inside the loop
        state = step.join(carry)

    A small model's step on a CPU is bound by the graph executor's cost per op (about a
    microsecond each), not by arithmetic, so this computes the same function as `CharRNN.next`
    in about half the ops: the embedding and the first layer's input kernel become one (V, G)
    lookup table; a deeper layer's input and recurrent kernels one stacked (2H, G) matrix (one
    matmul on [x, h]); LSTM gate columns are reordered [i, f, o | g] so one sigmoid and one tanh
    cover all four gates; and the state travels as a tuple of (B, H) tensors, not unstacked and
    restacked every step. With multiplicative integration (MILSTMCell) the first layer's table
    holds two rows per character (the gain on hR and the rest), and a deeper layer keeps its two
    matmuls apart. The outputs equal `next`'s up to float rounding (tests compare them).
    Only builtin ops, so it serves from TF Serving like the rest of the graph.
    """

    def __init__(self, model: CharRNN):
        config = model.config
        self.kind = config.model
        self.num_states = config.num_states
        self.states_per_layer = config.states_per_layer
        self.hidden = config.hidden_size
        embeddings = tf.convert_to_tensor(model.embedding.embeddings)  # (V, E)
        self.layers = []
        for index, layer in enumerate(model.rnn_layers):
            cell = layer.cell
            kernel = tf.convert_to_tensor(cell.kernel)  # (in, G)
            recurrent = tf.convert_to_tensor(cell.recurrent_kernel)  # (H, G)
            bias = tf.convert_to_tensor(cell.bias)
            if self.kind == "lstm":
                # Keras' order is [i, f, g, o]; [i, f, o, g] puts the three sigmoid gates together.
                def reorder(m):
                    i, f, g, o = tf.split(m, 4, axis=-1)
                    return tf.concat([i, f, o, g], axis=-1)

                kernel, recurrent, bias = reorder(kernel), reorder(recurrent), reorder(bias)
            if self.kind == "gru":
                input_bias, recurrent_bias = bias[0], bias[1]  # (3H,) each (reset_after=True)
            else:
                input_bias, recurrent_bias = bias, None
            if isinstance(cell, MILSTMCell):
                alpha, beta_h, beta_x = (reorder(tf.convert_to_tensor(v)) for v in (cell.alpha, cell.beta_h, cell.beta_x))
                if index == 0:  # z = gain * hR + rest, and for a character both gain and rest are table rows
                    table = tf.matmul(embeddings, kernel)  # (V, G)
                    entry = {"table": beta_x * table + input_bias, "gain": alpha * table + beta_h, "recurrent": recurrent}
                else:
                    entry = {"kernel": kernel, "input_bias": input_bias, "recurrent": recurrent, "alpha": alpha, "beta_h": beta_h,
                             "beta_x": beta_x}
            elif index == 0:
                # one-hot input: embedding @ kernel + bias is a table row per character
                entry = {"table": tf.matmul(embeddings, kernel) + input_bias, "recurrent": recurrent}  # (V, G)
            elif self.kind == "gru":
                entry = {"kernel": kernel, "input_bias": input_bias, "recurrent": recurrent}
            else:
                entry = {"stacked": tf.concat([kernel, recurrent], axis=0), "input_bias": input_bias}  # (2H, G)
            entry["recurrent_bias"] = recurrent_bias
            self.layers.append(entry)
        self.skip_connections = config.skip_connections
        self.head_kernel = tf.convert_to_tensor(model.head.kernel)  # (L x H, V) with skip connections, else (H, V)
        self.head_bias = tf.convert_to_tensor(model.head.bias)  # (V,)

    def split(self, state):
        """(B, S, H) -> tuple of S (B, H) tensors."""
        return tuple(tf.unstack(state, num=self.num_states, axis=1))

    def join(self, carry):
        return CharRNN._join_state([carry])  # (B, S, H)

    def __call__(self, ids, carry):
        ids = tf.cast(ids, tf.int32)
        per_layer = self.states_per_layer
        new_carry, outputs = [], []
        x = None
        for index, entry in enumerate(self.layers):
            h = carry[index * per_layer]  # (B, H)
            if self.kind == "gru":
                if index == 0:
                    xw = tf.gather(entry["table"], ids)  # (B, 3H)
                else:
                    xw = tf.nn.bias_add(tf.matmul(x, entry["kernel"]), entry["input_bias"])  # (B, 3H)
                hr = tf.nn.bias_add(tf.matmul(h, entry["recurrent"]), entry["recurrent_bias"])  # (B, 3H)
                x_zr, x_h = tf.split(xw, [2 * self.hidden, self.hidden], axis=-1)
                h_zr, h_h = tf.split(hr, [2 * self.hidden, self.hidden], axis=-1)
                z, r = tf.split(tf.sigmoid(x_zr + h_zr), 2, axis=-1)  # (B, H) each
                candidate = tf.tanh(x_h + r * h_h)
                h = z * h + (1.0 - z) * candidate
                new_carry.append(h)
            else:
                if "gain" in entry:
                    pre = tf.gather(entry["table"], ids) + tf.gather(entry["gain"], ids) * tf.matmul(h, entry["recurrent"])  # (B, G)
                elif "alpha" in entry:
                    xw = tf.matmul(x, entry["kernel"])  # (B, G)
                    pre = ((entry["alpha"] * xw + entry["beta_h"]) * tf.matmul(h, entry["recurrent"]) + entry["beta_x"] * xw
                           + entry["input_bias"])  # (B, G)
                elif index == 0:
                    pre = tf.gather(entry["table"], ids) + tf.matmul(h, entry["recurrent"])  # (B, G)
                else:
                    pre = tf.nn.bias_add(tf.matmul(tf.concat([x, h], axis=-1), entry["stacked"]), entry["input_bias"])  # (B, G)
                if self.kind == "lstm":
                    c = carry[index * per_layer + 1]
                    sig, g = tf.split(pre, [3 * self.hidden, self.hidden], axis=-1)
                    i, f, o = tf.split(tf.sigmoid(sig), 3, axis=-1)  # (B, H) each
                    c = f * c + i * tf.tanh(g)
                    h = o * tf.tanh(c)
                    new_carry += [h, c]
                else:
                    h = tf.tanh(pre)
                    new_carry.append(h)
            x = h
            outputs.append(h)
        logits = tf.nn.bias_add(tf.matmul(head_input(outputs, self.skip_connections), self.head_kernel), self.head_bias)  # (B, V)
        return logits, tuple(new_carry)

