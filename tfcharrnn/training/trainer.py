"""The Trainer: a run from its flags to its last checkpoint.

    from tfcharrnn.training import TrainConfig, Trainer, train
    result = train(TrainConfig(train_data="input.txt", max_epochs=1, checkpoint_dir="cv"))
    result["val_loss"], result["checkpoint"]
    trainer = Trainer(cfg); trainer.evaluate(trainer.corpus.val); trainer.run()

Setting up (here): the corpus, the strategy, the model on its training path, Adam, and what a
resumed checkpoint restores. The loop and its stop rules are tfcharrnn.training.loop, the
compiled steps tfcharrnn.training.steps.
"""

from __future__ import annotations

import functools
import math
import time

import numpy as np

from tfcharrnn.errors import UserError
from tfcharrnn.training.config import TrainConfig
from tfcharrnn.training.distribute import Distribution
import tfcharrnn.training.train_path as train_path
from tfcharrnn.training.state import RunArrays, TrainState, check_same_vocabulary, checkpoint_to_resume, restore_rng


def checkpoint_name(model_kind: str, epoch: float, loss: float | None) -> str:
    loss_part = f"{loss:.4f}" if loss is not None and math.isfinite(loss) else "noval"
    return f"lm_{model_kind}_epoch{epoch:.2f}_{loss_part}"


class Trainer:
    # Batches per tf.data element for one replica (see data._stacked): the loop pulls from the
    # iterator once every BATCHES_PER_ELEMENT steps and slices the rest from memory.
    BATCHES_PER_ELEMENT = 16

    def __init__(self, cfg: TrainConfig, log=None, path=None):
        """``path`` (a train_path.TrainPath) overrides the one --train_path names or timing picks."""
        import keras
        import tensorflow as tf

        cfg.validate()
        self.cfg = cfg
        self.log = (lambda *a, **k: None) if cfg.quiet else (log or functools.partial(print, flush=True))
        restored = checkpoint_to_resume(cfg, self.log)
        if cfg.deterministic:
            tf.config.experimental.enable_op_determinism()
        self._load_corpus()
        self.dist = Distribution(cfg.strategy, cfg.batch_size)  # before any tensor: multi-worker collectives are set up at startup
        self.train_ids = tf.constant(np.ascontiguousarray(self.corpus.train))
        if not self.dist.chief:
            self.log = lambda *a, **k: None
        self.state = TrainState()
        if restored is not None:
            check_same_vocabulary(restored, self.vocab)
            self.model_config = restored.config
            self.state = TrainState.from_dict(restored.train_state)
        else:
            self.model_config = cfg.model_config(self.vocab.size)
        self.path_choice = train_path.Choice(path, cached=False) if path else train_path.untimed(cfg, self.model_config, self.dist)
        if self.path_choice is None:  # the first batch is pulled only to time the candidates on it
            self.path_choice = train_path.timed(cfg, self.model_config, self.dist, next(iter(self.train_batches(0))))
        self.path = self.path_choice.path
        keras.utils.set_random_seed(cfg.seed)  # after any autotuning, so the run is the same whichever paths were timed
        self._build_model(restored)
        self.carry = None
        carry = restored.run_arrays.get("carry_state") if restored is not None else None
        if carry is not None and cfg.layout == "stream" and self.dist.replicas == 1:
            self.carry = tf.constant(carry)
        self.monitor = None
        if cfg.tensorboard and self.dist.chief:
            from tfcharrnn.monitor import RunMonitor

            self.monitor = RunMonitor(cfg.checkpoint_dir)
        self.history = []  # (step, loss) of every step: for tests and the curve
        self.restored_from = restored.path if restored is not None else None
        self.last_checkpoint = None
        self._build_steps()

    def _load_corpus(self) -> None:
        from tfcharrnn.data import check_trainable, load_corpus

        cfg = self.cfg
        t0 = time.time()
        self.corpus = load_corpus(cfg.train_data, cfg.val_frac, cfg.test_frac, cfg.encoding, cfg.byte_mode)
        self.vocab = self.corpus.vocab
        self.prep_seconds = time.time() - t0
        check_trainable(len(self.corpus.train), cfg.seq_length, cfg.batch_size, cfg.layout, cfg.stride or cfg.seq_length)
        if cfg.val_frac > 0 and len(self.corpus.val) < 2:
            raise UserError(
                f"the corpus ({self.corpus.num_chars} characters) is too short to leave a validation split with "
                f"--val_frac {cfg.val_frac}; use more text or --val_frac 0"
            )

    def _build_model(self, restored) -> None:
        import keras

        from tfcharrnn import checkpoint as ckpt_lib
        from tfcharrnn.model import CharRNN

        cfg = self.cfg
        with self.dist.strategy.scope():
            self.model = CharRNN(self.model_config, recurrence=self.path.recurrence)
            if restored is not None:
                ckpt_lib.assign_weights(self.model, restored.weights, restored.path)
            self.optimizer = keras.optimizers.Adam(learning_rate=cfg.learning_rate, weight_decay=cfg.weight_decay or None)
            if cfg.weight_decay:
                self.optimizer.exclude_from_weight_decay(var_names=["bias"])
            self.optimizer.build(self.model.trainable_variables)
            if restored is not None:
                ckpt_lib.restore_optimizer(self.optimizer, self.model, restored.optimizer, restored.path)
        if restored is not None:
            restore_rng(self.model, RunArrays.from_arrays(restored.run_arrays).rng)

    def _build_steps(self) -> None:
        """(Re)trace the compiled steps, e.g. after a test swaps the optimizer."""
        from tfcharrnn.training.steps import Steps

        self.steps = Steps(self.model, self.optimizer, self.dist, self.path, self.cfg)
        self.train_step, self.eval_step = self.steps.train, self.steps.evaluate

    # --- data -----------------------------------------------------------------------------------
    def batches_in(self, epoch_index: int) -> int:
        from tfcharrnn.data import num_window_batches, stream_layout

        cfg, n = self.cfg, len(self.corpus.train)
        if cfg.layout == "stream":
            return stream_layout(n, cfg.seq_length, cfg.batch_size, cfg.seed, epoch_index)[1]
        return num_window_batches(n, cfg.seq_length, cfg.stride or cfg.seq_length, cfg.batch_size, cfg.seed, epoch_index)

    def train_batches(self, epoch_index: int, start_batch: int = 0):
        """Epoch ``epoch_index``'s training batches from ``start_batch`` on: (x, y) pairs, per-replica
        values when distributed. One replica pulls them from tf.data BATCHES_PER_ELEMENT batches at a time."""
        import tensorflow as tf

        from tfcharrnn.data import stream_dataset, window_dataset

        cfg = self.cfg
        per_element = self.BATCHES_PER_ELEMENT if self.dist.single_replica else 1
        if cfg.layout == "stream":
            ds = stream_dataset(self.corpus.train, cfg.seq_length, cfg.batch_size, cfg.seed, epoch_index, start_batch, self.train_ids,
                                batches_per_element=per_element)
        else:
            ds = window_dataset(self.corpus.train, cfg.seq_length, cfg.batch_size, cfg.stride or cfg.seq_length, cfg.seed,
                                epoch_index, start_batch, self.train_ids, batches_per_element=per_element)
        for xs, ys in self.dist.distribute(ds):
            if per_element == 1:
                yield xs, ys
            else:
                yield from zip(tf.unstack(xs), tf.unstack(ys))  # (K, B, T) -> K x (B, T)

    # --- evaluation and samples -----------------------------------------------------------------
    def evaluate(self, ids) -> float | None:
        """Mean nats per character of ``ids``: 64 contiguous rows, the state carried along each."""
        from tfcharrnn.scoring import score_layout

        if len(ids) < 2:
            return None
        x, y, w = score_layout(ids, rows=64)
        state = self.model.initial_state(x.shape[0])
        total = 0.0
        for j in range(0, x.shape[1], self.cfg.seq_length):
            cut = slice(j, j + self.cfg.seq_length)
            loss_sum, state = self.eval_step(x[:, cut], y[:, cut], w[:, cut], state)
            total += float(loss_sum)
        return total / float(w.sum())

    def sample(self, length: int, temperature: float = 0.8, prompt: str = "") -> str:
        from tfcharrnn.sampling import Generator

        if not hasattr(self, "_generator"):
            self._generator = Generator(self.model, self.vocab)
        return self._generator.sample_text(prompt, length, seed=self.state.step, temperature=temperature)[0]

    # --- checkpoints ----------------------------------------------------------------------------
    def save(self, val_loss, reason=""):
        from tfcharrnn import checkpoint as ckpt_lib

        st = self.state
        pointers = ["latest"]
        if val_loss is not None and (st.best_val_loss is None or val_loss <= st.best_val_loss):
            pointers.append("best")
            st.best_val_loss = val_loss
        elif ckpt_lib.read_pointer(self.cfg.checkpoint_dir, "best") is None:
            pointers.append("best")
        if not self.dist.chief:
            return None  # workers other than the chief never write (tf.distribute's rule)
        carry = self.carry.numpy() if self.carry is not None and self.dist.single_replica else None
        arrays = RunArrays(carry, [g.state.numpy() for g in self.model.seed_generators()])
        meta_state = {**st.to_dict(), "val_loss": val_loss, "train_config": self.cfg.to_dict()}
        name = checkpoint_name(self.model_config.model, st.epoch, val_loss)
        path = ckpt_lib.save_checkpoint(self.cfg.checkpoint_dir, name, self.model, self.vocab, self.optimizer, meta_state,
                                        pointers, arrays.to_arrays())
        ckpt_lib.prune(self.cfg.checkpoint_dir, self.cfg.keep_best)
        self.log(f"saved checkpoint {path}{' (' + reason + ')' if reason else ''}")
        self.last_checkpoint = path
        return path

    # --- the loop -------------------------------------------------------------------------------
    def run(self) -> dict:
        """Train until a stop rule fires; returns the result dict (step, epoch, val_loss, checkpoint, ...)."""
        import tensorflow as tf

        from tfcharrnn.training.loop import Loop

        lost = (tf.errors.UnavailableError, tf.errors.AbortedError, tf.errors.CancelledError, tf.errors.DeadlineExceededError)
        try:
            return Loop(self).run()
        except lost as e:
            if not self.dist.multiworker:
                raise
            raise self.dist.lost_contact(e, self.cfg.checkpoint_dir) from None

    def report_validation(self):
        if not len(self.corpus.val):
            return None
        t = time.time()
        val = self.evaluate(self.corpus.val)
        if val is not None and self.monitor:
            self.monitor.validation(self.state.step, self.state.epoch, val, self.state.chars_seen, self.state.elapsed_s)
        if val is not None:
            self.log(f"validation: {val:.4f} nats/char, {val / math.log(2):.4f} bits/char, perplexity {math.exp(min(val, 700)):.2f} "
                     f"(step {self.state.step}, {time.time() - t:.1f}s)")
        return val


def train(cfg: TrainConfig, log=None) -> dict:
    return Trainer(cfg, log=log).run()
