"""Quality in a time budget: validation nats/char of tfcharrnn's defaults and of a plain PyTorch
LSTM, each trained for the same minutes on Tiny Shakespeare in its own process, one after the other.

    python scripts/bench.py --only quality                       # 3 minutes each, ~7 minutes in all
    python scripts/bench.py --only quality --quality-minutes 15 --quality-torch-batch 32
    python -m benchmarks.quality torch --minutes 3          # one run; prints RESULT {json}
    python -m benchmarks.quality tfcharrnn --minutes 3

tfcharrnn: TrainConfig(time_budget=M, max_epochs=0) with every other field at its default, which
is what ``python scripts/train.py --time_budget M`` runs (2x256 LSTM, embedding 64, batch 32 x
seq 100, stream layout, Adam 5e-3 with cosine decay to 5% over the budget, gradient clip 5).

PyTorch: torch.nn.LSTM with the same sizes, optimiser, schedule (tfcharrnn.training.learning_rate
of the same TrainConfig, so the same cosine over the same budget), clip and stream layout
(tfcharrnn.data.stream_layout: contiguous rows, state carried, a new offset each epoch), and
PyTorch's own initialisation and threads; batch 64 unless --quality-torch-batch says otherwise.

Both read the bundled Tiny Shakespeare with the last 10% held out, and both are scored the same
way: the whole validation text as 64 contiguous rows read in chunks of seq_length with the state
carried (tfcharrnn.scoring.score_layout, as Trainer.evaluate reads it). The clock starts before the
first step, so tfcharrnn's budget includes compiling its step.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import tempfile
import time

from benchmarks.common import child_env, print_result, run_child, set_threads, torch_available
from benchmarks.train_peers import detach_state, torch_net


def _config(minutes, **overrides):
    from tfcharrnn.training import TrainConfig

    return TrainConfig(time_budget=minutes, max_epochs=0, **overrides)


def _describe(cfg) -> str:
    return (f"{cfg.num_layers}x{cfg.hidden_size} {cfg.model.upper()}, embedding {cfg.embedding_size}, batch {cfg.batch_size} x {cfg.seq_length}, "
            f"Adam {cfg.learning_rate:g} {cfg.lr_schedule} to {cfg.min_lr_frac:.0%}, clip {cfg.grad_clip:g}")


# --- the parent: both runs, one after the other ------------------------------------------------


def run_quality(args, results, notes, log):
    minutes = args.quality_minutes if args.quality_minutes is not None else (0.05 if args.quick else 3.0)
    peers = ["tfcharrnn"] + (["torch"] if torch_available() else [])
    if "torch" not in peers:
        notes.append("PyTorch is not installed: the PyTorch quality run is skipped (pip install -e .[bench])")
    env = child_env(TF_CPP_MIN_LOG_LEVEL="3")
    out = {}
    for name in peers:
        flags = ["--minutes", str(minutes), "--threads", str(args.threads), "--batch", str(args.quality_torch_batch)]
        if args.quick:
            flags.append("--lean")
        elif name == "tfcharrnn":  # the run behind the figure stays: its checkpoint feeds --only quantization
            flags += ["--keep", os.path.join(os.path.abspath(args.out), "quality-tfcharrnn-run")]
        log(f"quality: {name}, {minutes:g} min")
        r = run_child("benchmarks.quality", [name] + flags, env, timeout=minutes * 60 + 900,
                      log_path=os.path.join(args.log_dir, f"quality-{name}.log"))
        log(f"  {name}: validation {r['val_loss']:.4f} nats/char after {r['steps']:,} steps ({r['epochs']:.2f} epochs, {r['chars_per_s']:,.0f} chars/s)")
        out[name] = r
    results["quality"] = {"minutes": minutes, "peers": out,
                          "command": f"python scripts/bench.py --only quality --quality-minutes {minutes:g}"}


# --- the tfcharrnn run ----------------------------------------------------------------------------


def run_tfcharrnn(minutes, lean=False, keep: str | None = None) -> dict:
    """scripts/train.py --time_budget M in this process (lean: no samples or TensorBoard, for --quick);
    ``keep``: the run directory to leave the checkpoints in (else a temporary one, removed)."""
    from tfcharrnn.training import Trainer

    workdir = keep or tempfile.mkdtemp(prefix="tfcharrnn-bench-quality-")
    try:
        extra = {"sample_length": 0, "tensorboard": False} if lean else {}
        cfg = _config(minutes, checkpoint_dir=workdir, **extra)
        trainer = Trainer(cfg)
        r = trainer.run()
    finally:
        if keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    label = f"tfcharrnn defaults (scripts/train.py --time_budget {minutes:g}): {_describe(cfg)}"
    return {"label": label, "val_loss": r["val_loss"], "val_bits": r["val_loss"] / math.log(2), "steps": r["step"], "epochs": r["epoch"],
            "train_s": r["elapsed_s"], "chars_per_s": r["chars_seen"] / max(r["elapsed_s"], 1e-9), "params": r["params"],
            "batch_size": cfg.batch_size, "seq_length": cfg.seq_length, "path": trainer.path.name, "run_dir": keep}


# --- the PyTorch run ------------------------------------------------------------------------------


def evaluate_torch(net, ids, seq_length) -> float:
    """Mean nats/char of ``ids``: 64 contiguous rows (tfcharrnn.scoring), chunks of ``seq_length``, state carried (as Trainer.evaluate)."""
    import torch

    from tfcharrnn.scoring import score_layout

    x, y, w = score_layout(ids, rows=64)
    total, state = 0.0, None
    with torch.inference_mode():
        for j in range(0, x.shape[1], seq_length):
            cut = slice(j, j + seq_length)
            logits, state = net(torch.from_numpy(x[:, cut]).long(), state)  # (R, t, V)
            nll = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), torch.from_numpy(y[:, cut]).long().reshape(-1), reduction="none")
            total += float((nll * torch.from_numpy(w[:, cut]).reshape(-1)).sum())
    return total / float(w.sum())


def _torch_epochs(cfg, n_train):
    """(epoch, batch rows' starts, batches in it) for epoch 0, 1, 2, ... (tfcharrnn's stream layout)."""
    from tfcharrnn.data import stream_layout

    epoch = 0
    while True:
        starts, nb = stream_layout(n_train, cfg.seq_length, cfg.batch_size, cfg.seed, epoch)
        if nb == 0:
            raise RuntimeError("an epoch has no batches")
        yield epoch, starts, nb
        epoch += 1


def run_torch(minutes, batch=64) -> dict:
    """A plain PyTorch LSTM with tfcharrnn's default sizes and schedule, trained for ``minutes``."""
    import numpy as np
    import torch

    from tfcharrnn.data import load_corpus
    from tfcharrnn.training import learning_rate

    cfg = _config(minutes, batch_size=batch)
    corpus = load_corpus(None, val_frac=cfg.val_frac)
    torch.manual_seed(cfg.seed)
    net = torch_net(cfg.model, cfg.hidden_size, cfg.num_layers, corpus.vocab.size, cfg.embedding_size)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.learning_rate)
    train = torch.from_numpy(corpus.train.astype(np.int64))
    offsets = torch.arange(cfg.seq_length + 1)[None, :]
    step, t0, done = 0, time.perf_counter(), False
    for epoch, starts, nb in _torch_epochs(cfg, len(corpus.train)):
        rows, state = torch.from_numpy(starts)[:, None], None
        for j in range(nb):
            for group in opt.param_groups:
                group["lr"] = learning_rate(cfg, step, epoch + j / nb, time.perf_counter() - t0)
            window = train[rows + j * cfg.seq_length + offsets]
            opt.zero_grad(set_to_none=True)
            logits, state = net(window[:, :-1], state)
            state = detach_state(state)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), window[:, 1:].reshape(-1))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
            opt.step()
            step += 1
            if not math.isfinite(loss.item()):  # read every step, as Trainer.run reads its loss
                raise RuntimeError(f"loss became {loss.item()} at step {step}")
            if time.perf_counter() - t0 >= minutes * 60:
                done = True
                break
        if done:
            break
    elapsed = time.perf_counter() - t0
    val = evaluate_torch(net, corpus.val, cfg.seq_length)
    label = f"PyTorch {_describe(cfg)}, {torch.get_num_threads()} threads"
    return {"label": label, "val_loss": val, "val_bits": val / math.log(2), "steps": step, "epochs": epoch + (j + 1) / nb, "train_s": elapsed,
            "chars_per_s": step * batch * cfg.seq_length / elapsed, "params": sum(p.numel() for p in net.parameters()),
            "batch_size": batch, "seq_length": cfg.seq_length, "torch_threads": torch.get_num_threads()}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="one quality run; prints RESULT {json}")
    ap.add_argument("peer", choices=("tfcharrnn", "torch"))
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--batch", type=int, default=64, help="the PyTorch run's batch size")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--lean", action="store_true", help="tfcharrnn: no samples, no TensorBoard (a smoke run)")
    ap.add_argument("--keep", default=None, help="tfcharrnn: keep the run directory (checkpoints) here")
    a = ap.parse_args()
    set_threads(a.threads, "torch" if a.peer == "torch" else "tf")
    print_result(run_torch(a.minutes, a.batch) if a.peer == "torch" else run_tfcharrnn(a.minutes, a.lean, a.keep))
