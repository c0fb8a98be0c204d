"""The PyTorch LSTM peer of the quality race: torch.nn.LSTM trained for M minutes on a corpus file.

    python -m benchmarks.lstm_peer --corpus FILE --minutes 3 --settings '{"learning_rate": 0.005, "batch_size": 64}'
    # prints RESULT {json}: val_loss (nats/char on the whole validation text), steps, epochs, chars/s, ...

What it is, so that it is a fair peer of `python scripts/train.py --time_budget M`:
- the sizes of the tfcharrnn run it is compared with (layers, hidden size, embedding size, the
  dropout between layers and before the output layer; benchmarks.quality reads them from that
  run's checkpoint), nn.LSTM's own dropout between layers, PyTorch's own initialisation; what a
  plain nn.LSTM loop has, so none of tfcharrnn's own additions (weight drop, the weights'
  moving average);
- Adam at its learning rate and batch size from the grid (benchmarks.quality_grid), with that
  run's beta2 and decoupled weight decay (AdamW, biases excluded, as tfcharrnn's), and that run's
  optimizer split (with --optimizer muon: PyTorch's Muon on the LSTM's matrices), gradient clip
  5, the same schedule over its own time budget as that run (tfcharrnn.training.learning_rate:
  wsd, the rate held and then falling to 5% over the last 30%, for runs since 2026-12-04);
- the stream layout with the state carried (tfcharrnn.data.stream_layout: contiguous rows, a new
  offset each epoch), seq_length characters per step;
- scored as tfcharrnn scores: the whole validation text as 64 contiguous rows read in chunks of
  seq_length with the state carried (tfcharrnn.scoring.score_layout, as the trainer reads it).
The clock starts before the first step and stops after the step that crosses the budget.
"""

from __future__ import annotations

import argparse
import json
import math
import time

from benchmarks.common import print_result, set_threads
from tfcharrnn.training.config import MUON_UPDATE_RMS

# When no grid has been run: tfcharrnn's own default learning rate, and the batch that led in 2026-12
DEFAULTS = {"learning_rate": 5e-3, "batch_size": 64}
# What benchmarks.quality_grid tries, chosen before any race: Adam's learning rate at tfcharrnn's
# 5e-3 and twice it (2e-3 and 3e-3 learned less in 3 minutes in every run so far), batches 32 and 64
# (128 led nowhere in 2026-12)
GRID = [{"learning_rate": lr, "batch_size": b} for lr in (5e-3, 1e-2) for b in (32, 64)]
# The width of the embedding the race also runs it at (benchmarks.quality's torch-emb64): torch-rnn's default
# word-vector size. Its better width depends on the text and the budget: at 3 minutes 64 on an alphabet
# (Tiny Shakespeare 1.4394 against 1.4539 at 256, the code corpus 1.1780 against 1.1835), at 15 minutes
# on Tiny Shakespeare 256 (1.3679 against 1.3714) (docs/performance.md, quality).
OWN_EMBEDDING = 64
# What it copies from a tfcharrnn run (benchmarks.quality.lstm_sizes); a race without one copies the recipe's
# choice (benchmarks.quality.recipe_sizes), and a run of this module alone these: tfcharrnn's 3-minute choice
SIZES = {"model": "lstm", "hidden_size": 256, "num_layers": 2, "embedding_size": 64, "dropout": 0.0, "seq_length": 100,
         "weight_decay": 0.1, "adam_beta2": 0.99, "optimizer": "adam", "lr_schedule": "wsd", "min_lr_frac": 0.05, "lr_decay_frac": 0.3}


def lstm_net(kind, vocab_size, embedding_size, hidden_size, num_layers, dropout):
    """Embedding, nn.LSTM (GRU, RNN) with dropout between layers, dropout, a linear head."""
    import torch

    rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[kind]

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = torch.nn.Embedding(vocab_size, embedding_size)
            self.rnn = rnn(embedding_size, hidden_size, num_layers, batch_first=True, dropout=dropout if num_layers > 1 else 0.0)
            self.drop = torch.nn.Dropout(dropout)
            self.head = torch.nn.Linear(hidden_size, vocab_size)

        def forward(self, x, state=None):
            out, state = self.rnn(self.embedding(x), state)  # (B, T, H)
            return self.head(self.drop(out)), state  # (B, T, V)

    return Net()


def evaluate(net, ids, seq_length) -> float:
    """Mean nats/char of ``ids``: 64 contiguous rows (tfcharrnn.scoring), chunks of ``seq_length``, state carried."""
    import torch

    from tfcharrnn.scoring import score_layout

    x, y, w = score_layout(ids, rows=64)  # (R, L) each
    net.eval()
    total, state = 0.0, None
    with torch.inference_mode():
        for j in range(0, x.shape[1], seq_length):
            cut = slice(j, j + seq_length)
            logits, state = net(torch.from_numpy(x[:, cut]).long(), state)  # (R, t, V)
            nll = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), torch.from_numpy(y[:, cut]).long().reshape(-1), reduction="none")
            total += float((nll * torch.from_numpy(w[:, cut]).reshape(-1)).sum())
    net.train()
    return total / float(w.sum())


def _schedule(minutes, s):
    """The TrainConfig whose learning_rate() is the schedule: the tfcharrnn run's over ``minutes``."""
    from tfcharrnn.training import TrainConfig

    return TrainConfig(time_budget=minutes, max_epochs=0, lr_schedule=s["lr_schedule"], min_lr_frac=s["min_lr_frac"],
                       lr_decay_frac=s["lr_decay_frac"], warmup_steps=0,
                       learning_rate=s["learning_rate"], batch_size=s["batch_size"], seq_length=s["seq_length"])


def _detach(state):
    return tuple(t.detach() for t in state) if isinstance(state, tuple) else state.detach()


def optimizers(net, s) -> list:
    """[(optimizer, its learning rate per unit of the schedule's)]: AdamW on every weight (biases not
    decayed, as in tfcharrnn), or with s["optimizer"] "muon" as tfcharrnn's --optimizer muon splits
    them: torch.optim.Muon on the recurrent layers' weight matrices, its update's RMS 0.3 per unit of
    learning rate (tfcharrnn.training.config.MUON_UPDATE_RMS; PyTorch's "match_rms_adamw" gives
    0.2, so its rate is 1.5x and its decay / 1.5, which keeps the decay per step tfcharrnn's), AdamW
    on the embedding, the output layer and the biases."""
    import torch

    params = dict(net.named_parameters())  # biases (rnn.bias_ih_l0, head.bias) are not decayed, as in tfcharrnn
    matrices = {n for n, p in params.items() if n.startswith("rnn.weight_")} if s.get("optimizer") == "muon" else set()
    decayed = [p for n, p in params.items() if "bias" not in n and n not in matrices]
    biases = [p for n, p in params.items() if "bias" in n]
    adam = torch.optim.AdamW([{"params": decayed, "weight_decay": s["weight_decay"]}, {"params": biases, "weight_decay": 0.0}],
                             lr=s["learning_rate"], betas=(0.9, s["adam_beta2"]))
    if not matrices:
        return [(adam, 1.0)]
    scale = MUON_UPDATE_RMS / 0.2
    muon = torch.optim.Muon([params[n] for n in sorted(matrices)], lr=s["learning_rate"] * scale, weight_decay=s["weight_decay"] / scale,
                            adjust_lr_fn="match_rms_adamw")
    return [(adam, 1.0), (muon, scale)]


def train(corpus_path: str, minutes: float, settings: dict, seed: int = 123) -> dict:
    """Train for ``minutes`` on the corpus file, score the validation text: the RESULT dict."""
    import numpy as np
    import torch

    from tfcharrnn.data import load_corpus, stream_layout
    from tfcharrnn.training import learning_rate

    s = {**SIZES, **DEFAULTS, **settings}
    cfg = _schedule(minutes, s)
    corpus = load_corpus(corpus_path, val_frac=0.1)
    torch.manual_seed(seed)
    net = lstm_net(s["model"], corpus.vocab.size, s["embedding_size"], s["hidden_size"], s["num_layers"], s["dropout"])
    opts = optimizers(net, s)
    ids = torch.from_numpy(corpus.train.astype(np.int64))
    offsets = torch.arange(s["seq_length"] + 1)[None, :]
    step, epochs, t0, budget = 0, 0.0, time.perf_counter(), minutes * 60
    epoch = 0
    while time.perf_counter() - t0 < budget:
        starts, nb = stream_layout(len(ids), s["seq_length"], s["batch_size"], seed, epoch)
        if nb == 0:
            raise RuntimeError(f"the training text is too short for one batch of {s['batch_size']} x {s['seq_length']}")
        rows, state = torch.from_numpy(starts)[:, None], None
        for j in range(nb):
            lr = learning_rate(cfg, step, epoch + j / nb, time.perf_counter() - t0)  # the schedule tfcharrnn trains with
            for opt, scale in opts:
                for group in opt.param_groups:
                    group["lr"] = lr * scale
            window = ids[rows + j * s["seq_length"] + offsets]  # (B, T + 1)
            logits, state = net(window[:, :-1], state)  # (B, T, V)
            state = _detach(state)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), window[:, 1:].reshape(-1))
            net.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            for opt, _ in opts:
                opt.step()
            step += 1
            epochs = epoch + (j + 1) / nb
            if not math.isfinite(loss.item()):
                raise RuntimeError(f"loss became {loss.item()} at step {step}")
            if time.perf_counter() - t0 >= budget:
                break
        epoch += 1
    elapsed = time.perf_counter() - t0
    val = evaluate(net, corpus.val, s["seq_length"])
    label = (f"PyTorch nn.{s['model'].upper()} {s['num_layers']}x{s['hidden_size']}, embedding {s['embedding_size']}, dropout {s['dropout']:g}, "
             f"batch {s['batch_size']} x {s['seq_length']}, {'Muon + ' if s.get('optimizer') == 'muon' else ''}Adam {s['learning_rate']:g} "
             f"(beta2 {s['adam_beta2']:g}, weight decay {s['weight_decay']:g}) "
             f"{s['lr_schedule']} to {s['min_lr_frac']:.0%}, clip 5, {torch.get_num_threads()} threads")
    return {"label": label, "val_loss": val, "val_bits": val / math.log(2), "steps": step, "epochs": epochs, "train_s": elapsed,
            "chars_per_s": step * s["batch_size"] * s["seq_length"] / elapsed, "params": sum(p.numel() for p in net.parameters()),
            "settings": s, "val_chars": int(len(corpus.val) - 1), "torch_threads": torch.get_num_threads()}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="one PyTorch LSTM quality run; prints RESULT {json}")
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--minutes", type=float, required=True)
    ap.add_argument("--settings", default="{}", help="JSON: sizes, learning_rate, batch_size (missing ones: the defaults)")
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    set_threads(a.threads, "torch")
    print_result(train(a.corpus, a.minutes, json.loads(a.settings)))
