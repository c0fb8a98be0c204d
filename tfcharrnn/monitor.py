"""Watching a run: metrics.jsonl, TensorBoard summaries and a training-curve PNG in the run directory.

    from tfcharrnn.monitor import RunMonitor
    mon = RunMonitor("cv")                     # the --checkpoint_dir of a run
    mon.train(step=100, loss=1.9, ...)         # one line of metrics.jsonl + TensorBoard scalars
    mon.validation(step=500, val_loss=1.62, ...)  # also redraws cv/training_curve.png
    mon.sample(step=1000, text="ROMEO: ...")   # a TensorBoard text summary

    tensorboard --logdir cv/tensorboard

metrics.jsonl holds every reported figure, one JSON object a line, with a "kind" of train,
val, sample or end; a resumed run appends to it, and the curve is drawn from the whole file.
"""

from __future__ import annotations

import json
import math
import os

from tfcharrnn.files import atomic_write_bytes

METRICS = "metrics.jsonl"
CURVE = "training_curve.png"


class RunMonitor:
    def __init__(self, run_dir: str, tensorboard: bool = True, curve: bool = True):
        self.run_dir = run_dir
        os.makedirs(run_dir, exist_ok=True)
        self.metrics_path = os.path.join(run_dir, METRICS)
        self.curve = curve
        self.writer = None
        if tensorboard:
            import tensorflow as tf

            self.writer = tf.summary.create_file_writer(os.path.join(run_dir, "tensorboard"))

    # --- records ----------------------------------------------------------------------------
    def _append(self, record: dict) -> None:
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
        with open(self.metrics_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(clean, ensure_ascii=False) + "\n")

    def _scalars(self, step: int, values: dict) -> None:
        if self.writer is None:
            return
        import tensorflow as tf

        with self.writer.as_default(step=step):
            for name, value in values.items():
                if value is not None and math.isfinite(value):
                    tf.summary.scalar(name, value)
        self.writer.flush()

    def train(self, step, epoch, loss, smooth_loss, chars_per_s, iters_per_s, learning_rate, chars_seen, elapsed_s) -> None:
        self._append(dict(kind="train", step=step, epoch=epoch, loss=loss, smooth_loss=smooth_loss, chars_per_s=chars_per_s,
                          iters_per_s=iters_per_s, learning_rate=learning_rate, chars_seen=chars_seen, elapsed_s=elapsed_s))
        self._scalars(step, {"train/loss": loss, "train/smooth_loss": smooth_loss, "train/chars_per_s": chars_per_s,
                             "train/learning_rate": learning_rate})

    def validation(self, step, epoch, val_loss, chars_seen, elapsed_s) -> None:
        bpc = val_loss / math.log(2)
        self._append(dict(kind="val", step=step, epoch=epoch, val_loss=val_loss, val_bits_per_char=bpc, chars_seen=chars_seen, elapsed_s=elapsed_s))
        self._scalars(step, {"val/loss_nats": val_loss, "val/bits_per_char": bpc})
        if self.curve:
            self.draw_curve()

    def sample(self, step, text) -> None:
        self._append(dict(kind="sample", step=step, text=text))
        if self.writer is not None:
            import tensorflow as tf

            with self.writer.as_default(step=step):
                tf.summary.text("samples", "```\n" + text + "\n```")
            self.writer.flush()

    def end(self, **summary) -> None:
        self._append(dict(kind="end", **summary))

    # --- the curve ----------------------------------------------------------------------------
    def records(self) -> list[dict]:
        if not os.path.exists(self.metrics_path):
            return []
        out = []
        with open(self.metrics_path, encoding="utf-8") as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue  # a line cut short by a crash
        return out

    def draw_curve(self) -> str | None:
        import io

        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        recs = self.records()
        train = [r for r in recs if r.get("kind") == "train" and r.get("smooth_loss") is not None]
        val = [r for r in recs if r.get("kind") == "val" and r.get("val_loss") is not None]
        if not train and not val:
            return None
        fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
        for ax, key, label in ((axes[0], "chars_seen", "characters seen"), (axes[1], "elapsed_s", "wall time (s)")):
            if train:
                ax.plot([r[key] for r in train], [r["smooth_loss"] for r in train], label="train (smoothed)", lw=1)
            if val:
                ax.plot([r[key] for r in val], [r["val_loss"] for r in val], "o-", label="validation", lw=1.5, ms=3)
            ax.set_xlabel(label)
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("loss (nats / char)")
        axes[0].legend()
        if val:
            best = min(r["val_loss"] for r in val)
            fig.suptitle(f"best validation {best:.4f} nats/char ({best / math.log(2):.4f} bits/char)")
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90)
        plt.close(fig)
        path = os.path.join(self.run_dir, CURVE)
        atomic_write_bytes(path, buf.getvalue())
        return path
