"""The transformer peer of the quality race: a character-level GPT in PyTorch, trained for M minutes.

    python -m benchmarks.transformer_peer --corpus FILE --minutes 3 --settings '{"size": "4x128", "learning_rate": 0.001}'
    # prints RESULT {json}: val_loss (nats/char on the whole validation text), steps, epochs, chars/s, ...

    from benchmarks.transformer_peer import gpt, sliding_windows, score
    score(model, val_ids, block_size=64)     # nats/char, every character scored once

Written here from the published design of Andrej Karpathy's nanoGPT (github.com/karpathy/nanoGPT,
model.py and config/train_shakespeare_char.py): pre-LayerNorm blocks without biases, causal
self-attention through torch.nn.functional.scaled_dot_product_attention, an MLP of 4x width
with GELU, learned positional embeddings, the output layer tied to the token embedding, weights
drawn from N(0, 0.02) (the residual projections scaled by 1/sqrt(2 n_layer)); AdamW with betas
(0.9, 0.99) and weight decay 0.1 on the 2-D weights only, gradient clip 1.0, a linear warm-up of
100 steps, then cosine decay to lr/10; batches of random windows of the training text.

nanoGPT's README gives its 3-minute CPU recipe for shakespeare_char (validation 1.88):
--block_size=64 --batch_size=12 --n_layer=4 --n_head=4 --n_embd=128 --max_iters=2000
--lr_decay_iters=2000 --dropout=0.0. Here the schedule runs over the time budget instead of
max_iters, and SIZES scales the model with the budget (that recipe below 10 minutes; larger
and with dropout above). benchmarks.quality_grid picks a size and learning rate per budget.

Scored on the whole validation text (``score``): windows of block_size characters every
block_size/2, each window counting only its second half (the first window all of it), so every
character is scored exactly once and with at least half a block of context, in nats/char: the
same quantity as the recurrent models' carried-state scoring.
"""

from __future__ import annotations

import argparse
import json
import math
import time

from benchmarks.common import print_result, set_threads

# name -> (n_layer, n_head, n_embd, block_size, batch_size); head size 32 throughout, as the recipe's
SIZES = {
    "4x128": (4, 4, 128, 64, 12),  # nanoGPT's CPU recipe
    "4x192": (4, 6, 192, 128, 16),
    "6x192": (6, 6, 192, 128, 32),
}
LEARNING_RATES = (1e-3, 2e-3)  # nanoGPT's shakespeare_char: 1e-3 (5e-4 is too slow for minutes)
WARMUP_STEPS = 100


def budget_sizes(minutes: float) -> tuple:
    """The sizes worth trying in ``minutes``, smallest first (the first is the default)."""
    return ("4x128", "4x192") if minutes < 10 else ("4x192", "6x192")


def default_settings(minutes: float) -> dict:
    return {"size": budget_sizes(minutes)[0], "learning_rate": 1e-3, "dropout": 0.0 if minutes < 10 else 0.1}


def grid(minutes: float) -> list:
    """The settings the grid section tries in ``minutes``: each size x LEARNING_RATES."""
    dropout = default_settings(minutes)["dropout"]
    return [{"size": size, "learning_rate": lr, "dropout": dropout} for size in budget_sizes(minutes) for lr in LEARNING_RATES]


# --- the model ------------------------------------------------------------------------------------


def gpt(vocab_size, n_layer, n_head, n_embd, block_size, dropout=0.0):
    """nanoGPT's GPT (bias=False): forward(idx (B, T)) -> logits (B, T, V)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class SelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=False)
            self.c_proj = nn.Linear(n_embd, n_embd, bias=False)
            self.resid_dropout = nn.Dropout(dropout)

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = (t.view(B, T, n_head, C // n_head).transpose(1, 2) for t in self.c_attn(x).split(n_embd, dim=2))  # (B, nh, T, hs)
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout if self.training else 0.0, is_causal=True)  # (B, nh, T, hs)
            return self.resid_dropout(self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C)))  # (B, T, C)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.attn = nn.LayerNorm(n_embd, bias=False), SelfAttention()
            self.ln_2 = nn.LayerNorm(n_embd, bias=False)
            self.mlp = nn.Sequential(nn.Linear(n_embd, 4 * n_embd, bias=False), nn.GELU(), nn.Linear(4 * n_embd, n_embd, bias=False), nn.Dropout(dropout))
            self.mlp[2].is_residual_projection = True
            self.attn.c_proj.is_residual_projection = True

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            return x + self.mlp(self.ln_2(x))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.block_size = block_size
            self.wte, self.wpe = nn.Embedding(vocab_size, n_embd), nn.Embedding(block_size, n_embd)
            self.drop = nn.Dropout(dropout)
            self.h = nn.ModuleList(Block() for _ in range(n_layer))
            self.ln_f = nn.LayerNorm(n_embd, bias=False)
            self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
            self.wte.weight = self.lm_head.weight  # weight tying
            for m in self.modules():
                if isinstance(m, (nn.Linear, nn.Embedding)):
                    std = 0.02 / math.sqrt(2 * n_layer) if getattr(m, "is_residual_projection", False) else 0.02
                    nn.init.normal_(m.weight, mean=0.0, std=std)

        def forward(self, idx):
            T = idx.shape[1]
            x = self.drop(self.wte(idx) + self.wpe(torch.arange(T, device=idx.device)))  # (B, T, C)
            for block in self.h:
                x = block(x)
            return self.lm_head(self.ln_f(x))  # (B, T, V)

    return Model()


def optimizer(model, learning_rate, weight_decay=0.1):
    """AdamW, betas (0.9, 0.99); weight decay on the 2-D weights (matmuls, embeddings), none on the LayerNorms."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=learning_rate, betas=(0.9, 0.99))


def lr_at(peak, step, elapsed_s, warm_end_s, budget_s):
    """Linear warm-up over WARMUP_STEPS steps, then cosine from peak to peak/10 over the rest of the budget."""
    if step < WARMUP_STEPS:
        return peak * (step + 1) / (WARMUP_STEPS + 1)
    progress = min(1.0, max(0.0, (elapsed_s - warm_end_s) / max(budget_s - warm_end_s, 1e-9)))
    return peak / 10 + 0.5 * (1 + math.cos(math.pi * progress)) * (peak - peak / 10)


# --- scoring --------------------------------------------------------------------------------------


def sliding_windows(n: int, block: int) -> list:
    """[(start, count_from, count_to)] over n prediction positions: the window is positions
    start .. start + block - 1, and it scores positions count_from .. count_to - 1. Windows every
    block // 2 positions; the first scores all of itself, the others their last half; the last
    ends at n (moved back to keep its full length), so each position is scored exactly once."""
    if n <= block:
        return [(0, 0, n)]
    out, done = [(0, 0, block)], block
    while done < n:
        end = min(done + block // 2, n)
        out.append((end - block, done, end))
        done = end
    return out


def score(model, ids, block_size: int, batch: int = 32) -> float:
    """Mean nats/char over the len(ids) - 1 predictions of ``ids`` (every character after the first)."""
    import numpy as np
    import torch

    ids = torch.from_numpy(np.asarray(ids, dtype=np.int64))
    x, y = ids[:-1], ids[1:]
    windows = sliding_windows(len(x), block_size)
    was_training = model.training
    model.eval()
    total = 0.0
    with torch.inference_mode():
        for i in range(0, len(windows), batch):
            group = windows[i:i + batch]
            span = min(block_size, len(x))
            starts = torch.tensor([s for s, _, _ in group])[:, None] + torch.arange(span)[None, :]  # (W, T) positions
            logits = model(x[starts])  # (W, T, V)
            nll = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y[starts].reshape(-1), reduction="none").view(len(group), span)
            for row, (s, a, b) in enumerate(group):
                total += float(nll[row, a - s:b - s].sum())
    model.train(was_training)
    return total / len(x)


# --- training -------------------------------------------------------------------------------------


def train(corpus_path: str, minutes: float, settings: dict, seed: int = 123) -> dict:
    """Train for ``minutes`` on the corpus file, score the validation text: the RESULT dict."""
    import numpy as np
    import torch

    from tfcharrnn.data import load_corpus

    s = {**default_settings(minutes), **settings}
    n_layer, n_head, n_embd, block, batch = SIZES[s["size"]]
    corpus = load_corpus(corpus_path, val_frac=0.1)
    torch.manual_seed(seed)
    model = gpt(corpus.vocab.size, n_layer, n_head, n_embd, block, s["dropout"])
    opt = optimizer(model, s["learning_rate"])
    data = torch.from_numpy(corpus.train.astype(np.int64))
    if len(data) <= block:
        raise RuntimeError(f"the training text ({len(data)} characters) is shorter than a block of {block}")
    rng = torch.Generator().manual_seed(seed)
    offsets = torch.arange(block + 1)[None, :]
    step, t0, budget, warm_end = 0, time.perf_counter(), minutes * 60, 0.0
    while time.perf_counter() - t0 < budget:
        elapsed = time.perf_counter() - t0
        warm_end = elapsed if step == WARMUP_STEPS else warm_end
        for group in opt.param_groups:
            group["lr"] = lr_at(s["learning_rate"], step, elapsed, warm_end, budget)
        window = data[torch.randint(len(data) - block, (batch, 1), generator=rng) + offsets]  # (B, T + 1)
        logits = model(window[:, :-1])  # (B, T, V)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), window[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if not math.isfinite(loss.item()):
            raise RuntimeError(f"loss became {loss.item()} at step {step}")
    elapsed = time.perf_counter() - t0
    val = score(model, corpus.val, block)
    label = (f"GPT (nanoGPT design) {n_layer} layers x {n_embd}, {n_head} heads, block {block}, batch {batch}, dropout {s['dropout']:g}, "
             f"AdamW {s['learning_rate']:g} warm-up {WARMUP_STEPS} then cosine to 10%, {torch.get_num_threads()} threads")
    return {"label": label, "val_loss": val, "val_bits": val / math.log(2), "steps": step, "epochs": step * batch * block / len(data),
            "train_s": elapsed, "chars_per_s": step * batch * block / elapsed, "params": sum(p.numel() for p in model.parameters()),
            "settings": dict(s, n_layer=n_layer, n_head=n_head, n_embd=n_embd, block_size=block, batch_size=batch),
            "val_chars": int(len(corpus.val) - 1), "torch_threads": torch.get_num_threads()}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="one transformer quality run; prints RESULT {json}")
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--minutes", type=float, required=True)
    ap.add_argument("--settings", default="{}", help="JSON: size (a key of SIZES), learning_rate, dropout (missing ones: the budget's defaults)")
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    set_threads(a.threads, "torch")
    print_result(train(a.corpus, a.minutes, json.loads(a.settings)))
