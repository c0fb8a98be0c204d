"""The training loop: steps, progress lines, validation, checkpoints, samples and the stop rules.

    from tfcharrnn.training.loop import Loop
    result = Loop(trainer).run()        # Trainer.run() does this

The learning rate is a pure function of progress (tfcharrnn.training.config.learning_rate),
passed into each step, so a resumed run continues the schedule exactly; the data position is
(epoch, batch) of a deterministic per-epoch layout, so resume continues the same batches.
Ctrl-C / SIGTERM set a flag; the loop saves at the next step boundary and exits cleanly.
"""

from __future__ import annotations

import math
import signal
import time

from tfcharrnn.errors import RunFailed, UserError
from tfcharrnn.training.config import learning_rate


class StopFlag:
    """SIGINT / SIGTERM set a flag; the loop saves at the next step boundary and exits cleanly."""

    def __init__(self):
        self.signal = None
        self._old = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass
        return self

    def _handle(self, signum, frame):
        if self.signal is not None:  # a second Ctrl-C: stop right away
            raise KeyboardInterrupt
        self.signal = signal.Signals(signum).name

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


def stop_reason(cfg, state, signal_name, multiworker: bool, agree) -> str | None:
    """Why to stop after this step, or None. Workers of a multi-worker run agree (``agree``, an
    all-reduce) every iters_to_report steps, so all of them stop on the same step."""
    wants_stop = bool(signal_name) or bool(cfg.time_budget and state.elapsed_s >= cfg.time_budget * 60)
    if multiworker:
        wants_stop = agree(wants_stop) if state.step % cfg.iters_to_report == 0 else False
    if wants_stop and signal_name:
        return f"{signal_name} received"
    if wants_stop and multiworker and not cfg.time_budget:
        return "another worker was interrupted"
    if cfg.max_steps and state.step >= cfg.max_steps:
        return f"reached --max_steps {cfg.max_steps}"
    if cfg.epoch_limit and state.epoch >= cfg.epoch_limit - 1e-9:
        return f"reached --max_epochs {cfg.epoch_limit:g}"
    if wants_stop and cfg.time_budget:
        return f"reached --time_budget {cfg.time_budget:g} min"
    return None


def progress_bar(fraction: float, width: int = 20) -> str:
    filled = int(round(max(0.0, min(1.0, fraction)) * width))
    return "[" + "#" * filled + "-" * (width - filled) + "]"


class Loop:
    def __init__(self, trainer):
        self.t = trainer
        self.chars_per_step = trainer.cfg.batch_size * trainer.cfg.seq_length
        self.smooth = None
        self.last_report = (time.time(), trainer.state.step)

    def run(self) -> dict:
        t, st = self.t, self.t.state
        self._log_start()
        self.start_time = time.time() - st.elapsed_s
        self.zero_state = t.dist.zero_state(t.model)
        reason = None
        with StopFlag() as stop:
            while reason is None:
                reason = self._run_epoch(stop)
        return self._finish(reason)

    def _log_start(self) -> None:
        t, cfg = self.t, self.t.cfg
        c, corpus = t.model_config, t.corpus
        t.log(f"corpus: {len(corpus.paths)} file(s), {corpus.num_chars:,} chars, vocab {t.vocab.size}, "
              f"train {len(corpus.train):,} / val {len(corpus.val):,} / test {len(corpus.test):,} ({t.prep_seconds:.1f}s)")
        t.log(f"model: {c.num_layers}x{c.hidden_size} {c.model}, {t.model.count_params():,} parameters; "
              f"layout {cfg.layout}, batch {cfg.batch_size} x seq {cfg.seq_length}")
        t.log(f"training: {t.path_choice.describe()}")
        if t.restored_from:
            t.log(f"resumed from {t.restored_from} at step {t.state.step}, epoch {t.state.epoch:.2f}")

    def _run_epoch(self, stop) -> str | None:
        """Train the rest of the current epoch; the stop reason, or None when the epoch ended."""
        t, st, cfg = self.t, self.t.state, self.t.cfg
        e = st.epoch_index
        nb = t.batches_in(e)
        if cfg.layout == "stream" and (st.batch_in_epoch == 0 or t.carry is None):
            t.carry = self.zero_state
        for x, y in t.train_batches(e, st.batch_in_epoch):
            self._step(x, y, nb)
            reason = stop_reason(cfg, st, stop.signal, t.dist.multiworker, t.dist.agree)
            if reason:
                return reason
        if nb == 0:
            raise UserError("an epoch has no batches; lower --batch_size or --seq_length")
        st.next_epoch()
        t.carry = None
        return None

    def _step(self, x, y, nb: int) -> None:
        import tensorflow as tf

        t, st, cfg = self.t, self.t.state, self.t.cfg
        lr = learning_rate(cfg, st.step, st.epoch, time.time() - self.start_time)
        state_in = t.carry if cfg.layout == "stream" else self.zero_state
        loss, new_state = t.train_step(x, y, state_in, tf.constant(lr, tf.float32))
        loss = float(loss)
        if not math.isfinite(loss):
            where = f"; last good checkpoint: {t.last_checkpoint}" if t.last_checkpoint else ""
            raise RunFailed(f"loss became {loss} at step {st.step + 1} (learning rate {lr:.3g}); "
                            f"lower --learning_rate or --grad_clip and resume{where}")
        if cfg.layout == "stream":
            t.carry = new_state
        st.step += 1
        st.batch_in_epoch += 1
        st.epoch = st.epoch_index + st.batch_in_epoch / nb
        st.chars_seen += self.chars_per_step
        st.elapsed_s = time.time() - self.start_time
        self.smooth = loss if self.smooth is None else 0.95 * self.smooth + 0.05 * loss
        t.history.append((st.step, loss))
        self._after_step(loss, lr, nb)

    def _after_step(self, loss: float, lr: float, nb: int) -> None:
        """Progress line, validation + checkpoint, sample: each on its own period."""
        t, st, cfg = self.t, self.t.state, self.t.cfg
        step = st.step
        if step % cfg.iters_to_report == 0:
            now = time.time()
            rate = (step - self.last_report[1]) / max(now - self.last_report[0], 1e-9)
            self.last_report = (now, step)
            if t.monitor:
                t.monitor.train(step, st.epoch, loss, self.smooth, rate * self.chars_per_step, rate, lr, st.chars_seen, st.elapsed_s)
            t.log(f"{step:6d} | epoch {st.epoch:6.2f} {progress_bar(st.batch_in_epoch / nb)} | loss {loss:.4f} | "
                  f"smooth {self.smooth:.4f} | {rate * self.chars_per_step:9,.0f} chars/s | {rate:6.2f} it/s | lr {lr:.2e}")
        if cfg.eval_val_every and step % cfg.eval_val_every == 0:
            t.save(t.report_validation())
        if cfg.sample_every and step % cfg.sample_every == 0 and cfg.sample_length and t.dist.chief:
            text = t.sample(cfg.sample_length)
            if t.monitor:
                t.monitor.sample(step, text)
            t.log("---- sample ----\n" + text + "\n----------------")

    def _finish(self, reason: str) -> dict:
        t, st, cfg = self.t, self.t.state, self.t.cfg
        t.log(f"stopping: {reason}")
        interrupted = reason.endswith("received")
        val_loss = t.report_validation()
        path = t.save(val_loss, reason=reason)
        result = {"step": st.step, "epoch": st.epoch, "val_loss": val_loss, "checkpoint": path, "elapsed_s": st.elapsed_s,
                  "chars_seen": st.chars_seen, "stop_reason": reason, "params": t.model.count_params()}
        if len(t.corpus.test):
            result["test_loss"] = t.evaluate(t.corpus.test)
            t.log(f"test loss {result['test_loss']:.4f} nats/char ({result['test_loss'] / math.log(2):.4f} bits/char)")
        if t.monitor:
            t.monitor.end(**{k: v for k, v in result.items() if k != "checkpoint"}, checkpoint=path)
        if interrupted:
            t.log(f"interrupted; resume with: python scripts/train.py --resume --checkpoint_dir {cfg.checkpoint_dir} "
                  "(plus the same data and optimisation flags; the model comes from the checkpoint)")
        if cfg.sample_length and not interrupted:
            t.log("---- sample ----\n" + t.sample(cfg.sample_length * 2) + "\n----------------")
        return result
