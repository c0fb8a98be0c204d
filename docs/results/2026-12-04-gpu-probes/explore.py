"""Per-step quality probes of tfcharrnn's 3-minute recipe, in PyTorch on a GPU (research, not shipped).

    python explore.py --worker K --of N --out DIR   # runs jobs K, K+N, ... of JOBS, appends JSON lines
Each job trains a stream-layout char LSTM for a fixed number of steps (the CPU run's step count)
and scores the last 10% of the corpus as tfcharrnn does (64 rows, state carried)."""
import argparse, json, math, os, time
import numpy as np
import torch
from torch import nn

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
HERE = os.path.dirname(os.path.abspath(__file__))
DEV = "cuda" if torch.cuda.is_available() else "cpu"

BASE = dict(corpus="shakespeare", E=64, H=256, L=2, lr=5e-3, b1=0.9, b2=0.99, wd=0.1, clip=5.0, B=32, T=100, steps=2270,
            min_frac=0.05, ema=0.995, init="keras", head="top", bn=0, ln=False, unigram=False, sched="cosine", warmup=0,
            dropout=0.0, seed=0, wd_emb=True, decay_frac=0.3)


class Net(nn.Module):
    def __init__(s, V, c, unigram_logp):
        super().__init__()
        s.c = c
        s.emb = nn.Embedding(V, c["E"])
        nn.init.normal_(s.emb.weight, 0, 1)
        s.rnns = nn.ModuleList(nn.LSTM(c["E"] if i == 0 else c["H"], c["H"], batch_first=True) for i in range(c["L"]))
        hin = c["H"] * c["L"] if c["head"] == "concat" else c["H"]
        s.ln = nn.LayerNorm(hin) if c["ln"] else None
        s.proj = nn.Linear(hin, c["bn"], bias=False) if c["bn"] else None
        s.out = nn.Linear(c["bn"] or hin, V)
        s.drop = nn.Dropout(c["dropout"])
        if c["init"] == "keras":
            H = c["H"]
            for r in s.rnns:
                fan_in = r.weight_ih_l0.shape[1]
                lim = math.sqrt(6 / (fan_in + 4 * H))
                nn.init.uniform_(r.weight_ih_l0, -lim, lim)
                nn.init.orthogonal_(r.weight_hh_l0)
                nn.init.zeros_(r.bias_ih_l0); nn.init.zeros_(r.bias_hh_l0)
                with torch.no_grad():
                    r.bias_ih_l0[H:2 * H] = 1.0
            for lin in [s.proj, s.out]:
                if lin is not None:
                    a, b = lin.weight.shape
                    lim = math.sqrt(6 / (a + b))
                    nn.init.uniform_(lin.weight, -lim, lim)
                    if lin.bias is not None:
                        nn.init.zeros_(lin.bias)
        if c["unigram"]:
            with torch.no_grad():
                s.out.bias.copy_(torch.as_tensor(unigram_logp))

    def forward(s, x, states):
        h = s.emb(x)
        outs, new = [], []
        for i, r in enumerate(s.rnns):
            y, st = r(h, states[i] if states else None)
            if s.c["head"] == "residual" and i > 0:
                y = y + h
            new.append(st)
            outs.append(y)
            h = s.drop(y) if s.c["dropout"] else y
        z = torch.cat(outs, -1) if s.c["head"] == "concat" else h
        if s.c["dropout"] and s.c["head"] == "concat":
            z = s.drop(z)
        if s.ln is not None:
            z = s.ln(z)
        if s.proj is not None:
            z = s.proj(z)
        return s.out(z), new


def load(name):
    d = np.load(os.path.join(HERE, f"{name}.npz"))
    return d["train"].astype(np.int64), d["val"].astype(np.int64), int(d["V"])


def lr_at(c, step):
    if c["warmup"] and step < c["warmup"]:
        return c["lr"] * (step + 1) / c["warmup"]
    p = min(1.0, step / c["steps"])
    f = c["min_frac"]
    if c["sched"] == "cosine":
        return c["lr"] * (f + (1 - f) * 0.5 * (1 + math.cos(math.pi * p)))
    if c["sched"] == "wsd":  # constant, then linear to f over the last decay_frac
        d = c["decay_frac"]
        return c["lr"] * (1.0 if p < 1 - d else 1 - (1 - f) * (p - (1 - d)) / d)
    if c["sched"] == "linear":
        return c["lr"] * (1 - (1 - f) * p)
    raise ValueError(c["sched"])


def evaluate(net, val, T):
    n = len(val) - 1
    R = 64
    L = -(-n // R)
    x = np.zeros(R * L, np.int64); y = np.zeros(R * L, np.int64); w = np.zeros(R * L, np.float32)
    x[:n] = val[:-1]; y[:n] = val[1:]; w[:n] = 1
    x, y, w = (torch.from_numpy(a.reshape(R, L)).to(DEV) for a in (x, y, w))
    net.eval()
    tot, st = 0.0, None
    with torch.inference_mode():
        for j in range(0, L, T):
            lg, st = net(x[:, j:j + T], st)
            nll = nn.functional.cross_entropy(lg.reshape(-1, lg.shape[-1]), y[:, j:j + T].reshape(-1), reduction="none")
            tot += float((nll * w[:, j:j + T].reshape(-1)).sum())
    net.train()
    return tot / float(w.sum())


def run(c):
    train, val, V = load(c["corpus"])
    counts = np.bincount(train, minlength=V).astype(np.float64) + 1
    torch.manual_seed(c["seed"])
    net = Net(V, c, np.log(counts / counts.sum())).to(DEV)
    params = dict(net.named_parameters())
    dec = [p for n, p in params.items() if "bias" not in n and "ln" not in n and (c["wd_emb"] or "emb" not in n)]
    rest = [p for n, p in params.items() if not any(p is q for q in dec)]
    opt = torch.optim.AdamW([{"params": dec, "weight_decay": c["wd"]}, {"params": rest, "weight_decay": 0.0}],
                            lr=c["lr"], betas=(c["b1"], c["b2"]), eps=1e-7)  # Keras' epsilon
    ema = [p.detach().clone() for p in net.parameters()] if c["ema"] else None
    ids = torch.from_numpy(train).to(DEV)
    B, T = c["B"], c["T"]
    offs = torch.arange(T + 1, device=DEV)[None, :]
    step, epoch, t0, curve = 0, 0, time.time(), []
    while step < c["steps"]:
        rng = np.random.default_rng([c["seed"], epoch])
        off = int(rng.integers(0, T))
        row_len = (len(train) - off - 1) // B
        nb = row_len // T
        rows = (off + torch.arange(B, device=DEV) * row_len)[:, None]
        st = None
        for j in range(nb):
            for g in opt.param_groups:
                g["lr"] = lr_at(c, step)
            win = ids[rows + j * T + offs]
            lg, st = net(win[:, :-1], st)
            st = [tuple(t.detach() for t in s) for s in st]
            loss = nn.functional.cross_entropy(lg.reshape(-1, V), win[:, 1:].reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), c["clip"])
            opt.step()
            step += 1
            if ema is not None:
                m = min(c["ema"], step / (step + 10.0)) if step > 1 else 0.0
                with torch.no_grad():
                    torch._foreach_lerp_(ema, [p.detach() for p in net.parameters()], 1 - m)
            if step % 500 == 0:
                curve.append((step, round(float(loss), 4)))
            if step >= c["steps"]:
                break
        epoch += 1
    raw = evaluate(net, val, T)
    val_ema = None
    if ema is not None:
        with torch.no_grad():
            saved = [p.detach().clone() for p in net.parameters()]
            for p, e in zip(net.parameters(), ema):
                p.copy_(e)
            val_ema = evaluate(net, val, T)
            for p, s_ in zip(net.parameters(), saved):
                p.copy_(s_)
    return {"raw": round(raw, 4), "ema_val": None if val_ema is None else round(val_ema, 4), "epochs": round(step * B * T / len(train), 2),
            "secs": round(time.time() - t0, 1), "curve": curve}


def jobs():
    J = []
    sh = [
        ("base", {}), ("torch_init", {"init": "torch"}), ("lr7.5e-3", {"lr": 7.5e-3}), ("lr1e-2", {"lr": 1e-2}),
        ("ema0.998", {"ema": 0.998}), ("ema0.999", {"ema": 0.999}), ("wd0.2", {"wd": 0.2}), ("unigram", {"unigram": True}),
        ("concat", {"head": "concat"}), ("residual", {"head": "residual"}), ("ln_head", {"ln": True}), ("b1_0.8", {"b1": 0.8}),
        ("emb128", {"E": 128}), ("clip1", {"clip": 1.0}), ("wsd", {"sched": "wsd"}), ("linear", {"sched": "linear"}),
        ("b2_0.999", {"b2": 0.999}), ("warm100_lr1e-2", {"warmup": 100, "lr": 1e-2}), ("no_wd_emb", {"wd_emb": False}),
        ("concat_lr7.5e-3", {"head": "concat", "lr": 7.5e-3}), ("lr1e-2_ema0.998_wd0.2", {"lr": 1e-2, "ema": 0.998, "wd": 0.2}),
        ("b1_0.95", {"b1": 0.95}),
    ]
    zh = [("zh_base", {"corpus": "chinese", "steps": 771}), ("zh_bn128", {"corpus": "chinese", "steps": 1120, "bn": 128}),
          ("zh_bn64", {"corpus": "chinese", "steps": 1450, "bn": 64}), ("zh_lr1e-2", {"corpus": "chinese", "steps": 771, "lr": 1e-2}),
          ("zh_emb128", {"corpus": "chinese", "steps": 700, "E": 128}), ("zh_bn128_lr1e-2", {"corpus": "chinese", "steps": 1120, "bn": 128, "lr": 1e-2}),
          ("zh_unigram", {"corpus": "chinese", "steps": 771, "unigram": True}),
          ("zh_bn128_unigram", {"corpus": "chinese", "steps": 1120, "bn": 128, "unigram": True})]
    code = [("code_base", {"corpus": "code", "steps": 2258}), ("code_concat", {"corpus": "code", "steps": 2258, "head": "concat"}),
            ("code_lr1e-2", {"corpus": "code", "steps": 2258, "lr": 1e-2}), ("code_wd0.2", {"corpus": "code", "steps": 2258, "wd": 0.2})]
    s15 = dict(H=384, dropout=0.25, wd=0.05, steps=4800)
    long = [("15_base", s15), ("15_ema0.998", {**s15, "ema": 0.998}), ("15_concat", {**s15, "head": "concat"}),
            ("15_lr1e-2", {**s15, "lr": 1e-2})]
    for seed in (0, 1):
        J += [(n, {**o, "seed": seed}) for n, o in sh]
        J += [(n, {**o, "seed": seed}) for n, o in zh]
        J += [(n, {**o, "seed": seed}) for n, o in code]
    J += [(n, o) for n, o in long]
    return J


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", type=int, default=0)
    ap.add_argument("--of", type=int, default=1)
    ap.add_argument("--out", default=".")
    ap.add_argument("--only", default="")
    ap.add_argument("--steps", type=int, default=0)
    ap.add_argument("--jobs", default="")
    a = ap.parse_args()
    J = jobs() if not a.jobs else [tuple(j) for j in json.load(open(a.jobs))]
    if a.only:
        J = [j for j in J if j[0] in a.only.split(",")]
    for i, (name, over) in enumerate(J):
        if i % a.of != a.worker:
            continue
        c = {**BASE, **over}
        if a.steps:
            c["steps"] = a.steps
        r = run(c)
        line = json.dumps({"name": name, "seed": c["seed"], **r, "cfg": over})
        print(line, flush=True)
        with open(os.path.join(a.out, f"res-{a.worker}.jsonl"), "a") as f:
            f.write(line + "\n")
