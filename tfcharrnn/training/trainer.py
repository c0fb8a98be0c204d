"""The Trainer: a run from its flags to its last checkpoint, set up in a straight line, then its loop.

    from tfcharrnn.training import TrainConfig, Trainer, train
    result = train(TrainConfig(train_data="input.txt", max_epochs=1, checkpoint_dir="cv"))
    result["val_loss"], result["checkpoint"]
    trainer = Trainer(cfg); trainer.evaluate(trainer.corpus.val); trainer.run()

Trainer(cfg) sets a run up in this order: the checkpoint a resumed run continues, the corpus (in
the vocabulary of the model a resumed or fine-tuning run continues: tfcharrnn.training.finetune),
the recipe, the strategy, the model's config, the training path (forced, cached, or timed on the
first batch: tfcharrnn.training.train_path), the model and its optimizer (restored when resuming; the
weights alone when fine-tuning), the compiled steps (tfcharrnn.training.steps) and where the run
is. run() is the loop: steps, progress lines, validation with a checkpoint, samples, until a stop
rule fires (tfcharrnn.training.stopping); a fine-tuning run first validates the model it loaded.
Its last checkpoint holds the better-scoring of the weights' moving average and training's own.

The Trainer alone owns the run's state and changes it: its position (``state``, a TrainState),
the recurrent state carried from one stream batch to the next (``carry``), the loss of every step
(``history``) and, inside the model, the random streams of dropout and weight drop. The learning
rate is a pure function of the position (tfcharrnn.training.config.learning_rate) passed into
each step, and the data position is (epoch, batch) of a deterministic per-epoch layout, so a
resumed run continues both exactly.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time

import numpy as np

import tfcharrnn.training.finetune as finetune
import tfcharrnn.training.recipe as recipe
import tfcharrnn.training.train_path as train_path
from tfcharrnn import machine, onednn
from tfcharrnn.errors import RunFailed, UserError
from tfcharrnn.recurrence import gpu_visible
from tfcharrnn.training.config import TrainConfig, at_peak_rate, describe_schedule, learning_rate
from tfcharrnn.training.distribute import Distribution
from tfcharrnn.training.progress import Clock, progress_bar
from tfcharrnn.training.state import RunArrays, TrainState, checkpoint_to_resume, optimiser_defaults, restore_rng
from tfcharrnn.training.stopping import StopFlag, stop_reason

# Batches per tf.data element for one replica (see data._stacked): the loop pulls from the
# iterator once every BATCHES_PER_ELEMENT steps and slices the rest from memory.
BATCHES_PER_ELEMENT = 16


def checkpoint_name(model_kind: str, epoch: float, loss: float | None) -> str:
    loss_part = f"{loss:.4f}" if loss is not None and math.isfinite(loss) else "noval"
    return f"lm_{model_kind}_epoch{epoch:.2f}_{loss_part}"


def train(cfg: TrainConfig, log=None) -> dict:
    return Trainer(cfg, log=log).run()


class Trainer:
    def __init__(self, cfg: TrainConfig, log=None, path=None):
        """``path`` (a train_path.TrainPath) overrides the one --train_path names or timing picks."""
        onednn.apply()  # the Python API's run: oneDNN decided before TensorFlow's import (reported if it came first)
        import keras
        import tensorflow as tf

        from tfcharrnn.model import unseen_chars
        from tfcharrnn.training.optimizer import compiles_well
        from tfcharrnn.training.steps import Steps

        cfg.validate()
        self.cfg = cfg
        self.log = (lambda *a, **k: None) if cfg.quiet else (log or functools.partial(print, flush=True))
        restored = checkpoint_to_resume(cfg, self.log)  # None for a new run
        # Where a fine-tuning run differs (tfcharrnn.training.finetune), here and in build_model: a new run whose shape,
        # vocabulary and first weights come from a trained model. A resumed run reads its text in its checkpoint's vocabulary.
        self.source, self.vocab_note, self.start_val_loss = None, "", None
        if restored is not None:
            cfg = finetune.resumed(cfg, restored)
        elif cfg.finetune_from:
            self.source = finetune.Source.load(cfg.finetune_from)
            cfg = self.source.configure(cfg)  # a contradicting shape flag stops the run before the text is read
        if cfg.deterministic:
            tf.config.experimental.enable_op_determinism()
        self.corpus, self.prep_seconds = training_corpus(cfg)
        if restored is not None:
            self.corpus = finetune.text_for_resume(restored, self.corpus, cfg)
        elif self.source is not None:
            self.corpus, self.vocab_note = self.source.adapt(self.corpus, cfg)
        self.vocab = self.corpus.vocab
        cfg = optimiser_defaults(cfg, restored)  # before the recipe: a resumed run keeps its optimizer
        self.dist = Distribution(cfg.strategy, cfg.batch_size)  # before any tensor or device query: multi-worker collectives are set up at startup
        cfg, self.recipe = recipe.resolve(cfg, len(self.corpus.train), self.vocab.size, gpu_visible())  # fields left None: the recipe's
        self.cfg = cfg
        if not self.dist.chief:
            self.log = lambda *a, **k: None  # only the chief logs and writes
        self.train_ids = tf.constant(np.ascontiguousarray(self.corpus.train))
        self.model_config = restored.config if restored is not None else cfg.model_config(self.vocab.size)

        self.path_choice = train_path.Choice(path, cached=False) if path else train_path.untimed(cfg, self.model_config, self.dist)
        if self.path_choice is None:  # the first batch is pulled (and a pipeline built) only to time the candidates on it
            first_batch = next(iter(self.train_batches(0)))
            self.path_choice = train_path.timed(cfg, self.model_config, self.dist, first_batch)
        self.path = self.path_choice.path

        keras.utils.set_random_seed(cfg.seed)  # the run's random streams start here, whatever timing's scratch models drew
        # Muon's Newton-Schulz iterations in bfloat16 where the CPU multiplies it natively (training.optimizer)
        self.orthogonalise_dtype = "bfloat16" if machine.native_bfloat16() else "float32"
        self.model, self.optimizer = build_model(cfg, self.model_config, self.path.recurrence, self.dist, restored, self.source,
                                                 self.corpus.train, self.orthogonalise_dtype)
        self.unseen = unseen_chars(self.corpus.train, self.vocab.size, cfg.unseen_share)  # (ids, share): the loss leaves them a share
        self.steps = Steps(self.model, self.optimizer, self.dist, self.path, cfg, self.unseen, compile_update=compiles_well(self.optimizer))

        self.state = TrainState.from_dict(restored.train_state) if restored is not None else TrainState()
        carry = restored.run_arrays.get("carry_state") if restored is not None else None
        self.carry = tf.constant(carry) if carry is not None and cfg.layout == "stream" and self.dist.replicas == 1 else None
        self.history = []  # (step, loss) of every step: for tests and the curve
        self.restored_from = restored.path if restored is not None else None
        self.last_checkpoint = None
        self.saved_at = None  # (step, validation loss) of the last save
        self.held = "raw"  # what the model holds: "average" inside averaged_weights (with an average yet), else training's own
        self.monitor = None
        if cfg.tensorboard and self.dist.chief:
            from tfcharrnn.monitor import RunMonitor

            self.monitor = RunMonitor(cfg.checkpoint_dir)

    @property
    def train_step(self):
        """The compiled step: (x, y, state, lr) -> (loss, state)."""
        return self.steps.train

    # --- data -----------------------------------------------------------------------------------
    def batches_in(self, epoch_index: int) -> int:
        from tfcharrnn.data import num_window_batches, stream_layout

        cfg, n = self.cfg, len(self.corpus.train)
        if cfg.layout == "stream":
            return stream_layout(n, cfg.seq_length, cfg.batch_size, cfg.seed, epoch_index)[1]
        return num_window_batches(n, cfg.seq_length, cfg.stride or cfg.seq_length, cfg.batch_size, cfg.seed, epoch_index)

    def train_batches(self, epoch_index: int, start_batch: int = 0):
        """Epoch ``epoch_index``'s training batches from ``start_batch`` on: (x, y) pairs, per-replica
        values when distributed. One replica pulls them from tf.data BATCHES_PER_ELEMENT at a time."""
        import tensorflow as tf

        from tfcharrnn.data import stream_dataset, window_dataset

        cfg = self.cfg
        per_element = BATCHES_PER_ELEMENT if self.dist.single_replica else 1
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

    # --- the loop -------------------------------------------------------------------------------
    def run(self) -> dict:
        """Train until a stop rule fires; returns the result dict (step, epoch, val_loss, checkpoint, ...)."""
        import tensorflow as tf

        lost = (tf.errors.UnavailableError, tf.errors.AbortedError, tf.errors.CancelledError, tf.errors.DeadlineExceededError)
        try:
            self._log_start()
            clock = Clock(self.state.elapsed_s, self.state.step, self.cfg.batch_size * self.cfg.seq_length)
            zero_state = self.dist.zero_state(self.model)
            reason = None
            with StopFlag() as stop:
                while reason is None:
                    reason = self._train_epoch(stop, clock, zero_state)
            return self._finish(reason)
        except lost as e:
            if not self.dist.multiworker:
                raise
            raise self.dist.lost_contact(e, self.cfg.checkpoint_dir) from None

    def _train_epoch(self, stop, clock, zero_state) -> str | None:
        """Train the rest of the current epoch; the stop reason, or None when the epoch ended."""
        cfg, st = self.cfg, self.state
        batches = self.batches_in(st.epoch_index)
        if cfg.layout == "stream" and (st.batch_in_epoch == 0 or self.carry is None):
            self.carry = zero_state
        for x, y in self.train_batches(st.epoch_index, st.batch_in_epoch):
            loss, lr = self._step(x, y, self.carry if cfg.layout == "stream" else zero_state, batches, clock)
            self._after_step(loss, lr, batches, clock)
            reason = stop_reason(cfg, st, stop.signal, self.dist.multiworker, self.dist.agree)
            if reason:
                return reason
        if batches == 0:
            raise UserError("an epoch has no batches; lower --batch_size or --seq_length")
        st.next_epoch()
        self.carry = None
        return None

    def _step(self, x, y, state_in, batches: int, clock) -> tuple[float, float]:
        """One training step: the weights, the position, the carried state and the history move on."""
        import tensorflow as tf

        cfg, st = self.cfg, self.state
        lr = learning_rate(cfg, st.step, st.epoch, clock.elapsed())
        loss, new_state = self.steps.train(x, y, state_in, tf.constant(lr, tf.float32))
        loss = float(loss)
        if not math.isfinite(loss):
            where = f"; last good checkpoint: {self.last_checkpoint}" if self.last_checkpoint else ""
            raise RunFailed(f"loss became {loss} at step {st.step + 1} (learning rate {lr:.3g}); "
                            f"lower --learning_rate or --grad_clip and resume{where}")
        if cfg.layout == "stream":
            self.carry = new_state
        st.step += 1
        st.batch_in_epoch += 1
        st.epoch = st.epoch_index + st.batch_in_epoch / batches
        st.chars_seen += clock.chars_per_step
        st.elapsed_s = clock.elapsed()
        self.history.append((st.step, loss))
        return loss, lr

    def _after_step(self, loss: float, lr: float, batches: int, clock) -> None:
        """Progress line, validation + checkpoint, sample: each on its own period."""
        cfg, st = self.cfg, self.state
        smooth = clock.smooth(loss)
        if st.step % cfg.iters_to_report == 0:
            rate = clock.steps_per_second(st.step)
            if self.monitor:
                self.monitor.train(st.step, st.epoch, loss, smooth, rate * clock.chars_per_step, rate, lr, st.chars_seen, st.elapsed_s)
            self.log(f"{st.step:6d} | epoch {st.epoch:6.2f} {progress_bar(st.batch_in_epoch / batches)} | loss {loss:.4f} | "
                     f"smooth {smooth:.4f} | {rate * clock.chars_per_step:9,.0f} chars/s | {rate:6.2f} it/s | lr {lr:.2e}")
        if cfg.eval_val_every and st.step % cfg.eval_val_every == 0:
            with self.averaged_weights():
                self.save(self._validate())
        if cfg.sample_every and st.step % cfg.sample_every == 0 and cfg.sample_length and self.dist.chief:
            with self.averaged_weights():
                text = self.sample(cfg.sample_length)
            if self.monitor:
                self.monitor.sample(st.step, text)
            self.log("---- sample ----\n" + text + "\n----------------")

    def _log_start(self) -> None:
        from tfcharrnn.training.optimizer import describe as describe_optimizer

        cfg, c, corpus = self.cfg, self.model_config, self.corpus
        self.log(f"corpus: {len(corpus.paths)} file(s), {corpus.num_chars:,} chars, vocab {self.vocab.size}, "
                 f"train {len(corpus.train):,} / val {len(corpus.val):,} / test {len(corpus.test):,} ({self.prep_seconds:.1f}s)")
        kind = f"{c.model} with multiplicative integration" if c.multiplicative_integration else c.model
        self.log(f"model: {c.num_layers}x{c.hidden_size} {kind}, {self.model.count_params():,} parameters; "
                 f"layout {cfg.layout}, batch {cfg.batch_size} x seq {cfg.seq_length}")
        if self.recipe:
            self.log(self.recipe)
        self.log(f"training: {self.path_choice.describe()}")
        fresh = self.restored_from is None and self.source is None
        self.log(describe_optimizer(cfg, self.orthogonalise_dtype))
        self.log(f"learning rate: {describe_schedule(cfg)}" + ("; the output bias starts at the text's character frequencies" if fresh else ""))
        absent, share = self.unseen
        if share:
            how = "--unseen_share" if cfg.unseen_share is not None else "Good-Turing's estimate: its characters whose kind occurs once"
            self.log(f"unseen characters: {len(absent)} of the vocabulary never occur in the training text; training leaves them "
                     f"{share:.3%} of the probability ({how}; --unseen_share 0: none)")
        if cfg.ema_momentum:
            from tfcharrnn.training.averaging import WARMUP

            span = 1 / (1 - cfg.ema_momentum)  # steps
            self.log(f"weights: validation, samples and checkpoints use their moving average (momentum {cfg.ema_momentum:g}: about the "
                     f"last {span:.0f} steps; before step {span / WARMUP:.0f}, the last {WARMUP:.0%} of the steps taken; --ema_momentum 0: the raw weights)")
        if self.restored_from:
            self.log(f"resumed from {self.restored_from} at step {self.state.step}, epoch {self.state.epoch:.2f}")
        if self.source is not None:
            self._log_finetune_start()

    def _log_finetune_start(self) -> None:
        """Before the first step: the model fine-tuned from, its vocabulary, and its validation on the new text."""
        self.log(f"fine-tuning from {self.source.describe()}" + (f"; {self.vocab_note}" if self.vocab_note else ""))
        self.start_val_loss = self._validate()  # logged as the validation at step 0
        measured = f"{self.start_val_loss:.4f} nats/char" if self.start_val_loss is not None else "not measured (no validation split)"
        self.log(f"fine-tuning from {self.source.checkpoint.path}: validation of the loaded model on the new text {measured}")

    def _finish(self, reason: str) -> dict:
        """Validate the end's weights and keep the better of the moving average and training's own:
        the average helps most in a short run, while at the end of a long one the decay has already
        smoothed the raw weights, which then score as well or better. The checkpoint says which it
        holds (train_state["weights"]), so a resumed run still trains on exactly where it stopped."""
        from tfcharrnn.training.averaging import has_average

        self.log(f"stopping: {reason}")
        st = self.state
        raw_val = None
        if has_average(self.optimizer) and len(self.corpus.val):
            raw_val = self.evaluate(self.corpus.val)
            self.log(f"validation of the raw weights (training's own, not averaged): {raw_val:.4f} nats/char")
        saved_here = self.saved_at is not None and self.saved_at[0] == st.step  # the average validated and saved at this very step
        with self.averaged_weights():
            val_loss = self.saved_at[1] if saved_here else self._validate()
        keep_raw = raw_val is not None and val_loss is not None and raw_val < val_loss
        if raw_val is not None:
            kept, other = ("the raw weights", "the average's") if keep_raw else ("the moving average", "the raw weights'")
            self.log(f"keeping {kept}: validation {min(raw_val, val_loss):.4f} nats/char against {other} {max(raw_val, val_loss):.4f}")
        with contextlib.nullcontext() if keep_raw else self.averaged_weights():
            return self._finish_kept(reason, raw_val if keep_raw else val_loss, raw_val, saved=saved_here and not keep_raw)

    def _finish_kept(self, reason: str, val_loss: float | None, raw_val: float | None, saved: bool) -> dict:
        """The end's checkpoint (unless ``saved`` already), test loss, monitor record and sample, of the weights kept."""
        cfg, st = self.cfg, self.state
        interrupted = reason.endswith("received")
        path = self.last_checkpoint if saved else self.save(val_loss, reason=reason)
        result = {"step": st.step, "epoch": st.epoch, "val_loss": val_loss, "checkpoint": path, "elapsed_s": st.elapsed_s,
                  "chars_seen": st.chars_seen, "stop_reason": reason, "params": self.model.count_params(),
                  "best_val_loss": st.best_val_loss, "best_step": st.best_step, "best_checkpoint": self.best_checkpoint()}
        if raw_val is not None:
            result["raw_val_loss"] = raw_val
            result["weights"] = self.held
        if len(self.corpus.test):
            result["test_loss"] = self.evaluate(self.corpus.test)
            self.log(f"test loss {result['test_loss']:.4f} nats/char ({result['test_loss'] / math.log(2):.4f} bits/char)")
        if self.monitor:
            self.monitor.end(**{k: v for k, v in result.items() if k != "checkpoint"}, checkpoint=path)
        if interrupted:
            self.log(f"interrupted; resume with: python scripts/train.py --resume --checkpoint_dir {cfg.checkpoint_dir} "
                     "(plus the same data and optimisation flags; the model comes from the checkpoint)")
        if cfg.sample_length and not interrupted:
            self.log("---- sample ----\n" + self.sample(cfg.sample_length * 2) + "\n----------------")
        return result

    # --- evaluation, samples, checkpoints --------------------------------------------------------
    @contextlib.contextmanager
    def averaged_weights(self):
        """Inside, the model holds the weights' moving average (--ema_momentum): what validation,
        samples and checkpoints see. Training's own weights wait in the optimizer and come back after."""
        from tfcharrnn.training.averaging import has_average, swap_average

        swap_average(self.model, self.optimizer)
        self.held = "average" if has_average(self.optimizer) else "raw"
        try:
            yield
        finally:
            swap_average(self.model, self.optimizer)
            self.held = "raw"

    def evaluate(self, ids) -> float | None:
        """Mean nats per character of ``ids``: 64 contiguous rows, the state carried along each
        (tfcharrnn.scoring, the one layout and loop every runtime scores a text with)."""
        from tfcharrnn.scoring import score_ids

        if len(ids) < 2:
            return None
        return score_ids(self.steps.evaluate, self.model.initial_state, ids, rows=64, chunk=self.cfg.seq_length).mean

    def _validate(self) -> float | None:
        """The validation loss, reported (None without a validation split)."""
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

    def sample(self, length: int, temperature: float = 0.8, prompt: str = "") -> str:
        from tfcharrnn.sampling import Generator

        if not hasattr(self, "_generator"):
            self._generator = Generator(self.model, self.vocab)
        return self._generator.sample_text(prompt, length, seed=self.state.step, temperature=temperature)[0]

    def best_checkpoint(self) -> str | None:
        """The checkpoint best.json names: the one sampling and export pick from the run directory."""
        from tfcharrnn import checkpoint as ckpt_lib

        return ckpt_lib.read_pointer(self.cfg.checkpoint_dir, "best") if self.dist.chief else None

    def save(self, val_loss, reason=""):
        from tfcharrnn import checkpoint as ckpt_lib

        st = self.state
        pointers = ["latest"]
        if val_loss is not None and (st.best_val_loss is None or val_loss <= st.best_val_loss):
            pointers.append("best")
            st.best_val_loss, st.best_step, st.validations_since_best = val_loss, st.step, 0
        elif self.saved_at is None or self.saved_at[0] != st.step:  # a second save at one step (_finish) counts once
            # early stopping counts these (stopping.stop_reason), once the rate has begun to fall
            st.validations_since_best += val_loss is not None and not at_peak_rate(self.cfg, st.step, st.epoch, st.elapsed_s)
            if ckpt_lib.read_pointer(self.cfg.checkpoint_dir, "best") is None:
                pointers.append("best")
        self.saved_at = (st.step, val_loss)
        if not self.dist.chief:
            return None  # workers other than the chief never write (tf.distribute's rule)
        carry = self.carry.numpy() if self.carry is not None and self.dist.single_replica else None
        arrays = RunArrays(carry, [g.state.numpy() for g in self.model.seed_generators()])
        meta_state = {**st.to_dict(), "val_loss": val_loss, "weights": self.held, "train_config": self.cfg.to_dict()}
        name = checkpoint_name(self.model_config.model, st.epoch, val_loss)
        path = ckpt_lib.save_checkpoint(self.cfg.checkpoint_dir, name, self.model, self.vocab, self.optimizer, meta_state,
                                        pointers, arrays.to_arrays())
        ckpt_lib.prune(self.cfg.checkpoint_dir, self.cfg.keep_best)
        self.log(f"saved checkpoint {path}{' (' + reason + ')' if reason else ''}")
        self.last_checkpoint = path
        return path


# ---------------------------------------------------------------------------------------------
# the setup's steps, as functions of plain values


def training_corpus(cfg):
    """The corpus the flags name, checked for training: (Corpus, seconds it took)."""
    from tfcharrnn import data

    t0 = time.time()
    corpus = data.load_corpus(cfg.train_data, cfg.val_frac, cfg.test_frac, cfg.encoding, cfg.byte_mode)
    data.check_trainable(len(corpus.train), cfg.seq_length, cfg.batch_size, cfg.layout, cfg.stride or cfg.seq_length)
    if cfg.val_frac > 0 and len(corpus.val) < 2:
        raise UserError(f"the corpus ({corpus.num_chars} characters) is too short to leave a validation split with "
                        f"--val_frac {cfg.val_frac}; use more text or --val_frac 0")
    return corpus, time.time() - t0


def build_model(cfg, model_config, recurrence, dist, restored=None, source=None, train_ids=None, orthogonalise_dtype="float32"):
    """The model on ``recurrence`` and its optimizer, built under the strategy: (model, optimizer); a
    checkpoint's weights, optimizer state and random streams when resuming; the weights of the model
    fine-tuned from (a finetune.Source; ``train_ids`` size its new characters' bias); else a new
    model whose output bias starts at the training text's character frequencies (unigram_bias)."""
    from tfcharrnn import checkpoint as ckpt_lib
    from tfcharrnn.model import CharRNN, unigram_bias
    from tfcharrnn.training.averaging import swap_average
    from tfcharrnn.training.optimizer import build_optimizer

    with dist.strategy.scope():
        model = CharRNN(model_config, recurrence=recurrence)
        if restored is not None:
            ckpt_lib.assign_weights(model, restored.weights, restored.path)
        elif source is not None:
            source.load_into(model, train_ids, cfg.seed)
        elif train_ids is not None:
            model.head.bias.assign(unigram_bias(train_ids, model_config.vocab_size))
        optimizer = build_optimizer(cfg, model, orthogonalise_dtype)
        optimizer.build(model.trainable_variables)
        if restored is not None:
            ckpt_lib.restore_optimizer(optimizer, model, restored.optimizer, restored.path)
            if restored.train_state.get("weights", "average") == "average":  # its average slots hold the raw weights
                swap_average(model, optimizer)
    if restored is not None:
        restore_rng(model, RunArrays.from_arrays(restored.run_arrays).rng)
    return model, optimizer
