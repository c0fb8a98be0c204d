"""The quality race: validation nats/char after M minutes of training, tfcharrnn against its peers.

    python scripts/bench.py --only quality                                   # 3 minutes, Tiny Shakespeare
    python scripts/bench.py --only quality --quality-minutes 3,15 --quality-corpora shakespeare,code,chinese
    python scripts/bench.py --only quality --quality-peers tfcharrnn,torch,transformer,tfcharrnn-noflag

For each minutes value, for each corpus (benchmarks.corpora), one after the other, each in its
own process, never two at once:
  tfcharrnn          the user's command, as a subprocess: python scripts/train.py --time_budget M
                     --train_data FILE --checkpoint_dir DIR, and nothing else; scored by the
                     checkpoint best.json points at (what sample and export use, its meta.json)
  torch              a PyTorch nn.LSTM of the same sizes as that run (benchmarks.lstm_peer)
  torch-emb64        the same LSTM with an embedding 64 wide (benchmarks.lstm_peer.OWN_EMBEDDING),
                     when the run's is another: which width is the LSTM's better depends on the
                     text and the budget, so the race runs both and a lead is read against the better
  transformer        a character-level GPT of nanoGPT's design (benchmarks.transformer_peer)
then once, when asked for:
  tfcharrnn-noflag   python scripts/train.py --checkpoint_dir DIR, no other flag, on the bundled
                     Tiny Shakespeare: the command a new user runs first; it stops by itself

The PyTorch peers take their learning rate, batch and size from the grid file that
`--only quality-grid` writes (benchmarks.quality_grid; --quality-grid-file), chosen before the
race; without one they use their defaults and the results say so. Every peer reads the same
file with tfcharrnn.data.load_corpus(path, val_frac=0.1) and is scored on the whole validation
text. bench.json keeps every run (settings, steps, epochs, chars/s, validation, wall time) and
logs/ every run's output; tfcharrnn's run directories stay under --tmp-dir (their paths are in
bench.json, for --only quantization --checkpoints).
"""

from __future__ import annotations

import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import time

from benchmarks import corpora
from benchmarks.common import ROOT, child_env, run_child, torch_available
from benchmarks.lstm_peer import OWN_EMBEDDING

PEERS = ("tfcharrnn", "torch", "torch-emb64", "transformer", "tfcharrnn-noflag")
DEFAULT_PEERS = ("tfcharrnn", "torch", "torch-emb64", "transformer")
CHILD_MODULES = {"torch": "benchmarks.lstm_peer", "torch-emb64": "benchmarks.lstm_peer", "transformer": "benchmarks.transformer_peer"}
QUICK_CHARS = 30_000  # --quick: each corpus cut to its first 30,000 characters
GRID_FILE = os.path.join(ROOT, "docs", "results", "quality-grid.json")


def minutes_list(args) -> list:
    return list(args.quality_minutes or ([0.02] if args.quick else [3.0]))


def corpus_paths(args) -> dict:
    return {name: corpora.corpus_file(name, args.tmp_dir, QUICK_CHARS if args.quick else None) for name in args.quality_corpora}


def grid_file(args) -> str:
    """--quality-grid-file; by default docs/results/quality-grid.json (--quick: OUT/quality-grid.json, never the repository's)."""
    return args.quality_grid_file or (os.path.join(args.out, "quality-grid.json") if args.quick else GRID_FILE)


def load_grid(path: str) -> dict:
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def grid_entry(grid: dict, peer: str, minutes: float, corpus: str):
    """(entry, where it comes from): the grid's entry for this peer, minutes and corpus ({"best":
    settings, "tried": [...], ...}); else its entry on shakespeare at these minutes; else, for the
    LSTM (whose learning rate and batch do not depend on the sizes it copies), its entry at the
    nearest other budget; else None."""
    by_minutes = grid.get(peer, {})
    budgets = [f"{minutes:g}"] + sorted((m for m in by_minutes if m != f"{minutes:g}" and peer == "torch"),
                                        key=lambda m: abs(math.log(float(m) / minutes)))
    for budget in budgets:
        for source in (corpus, "shakespeare"):
            entry = by_minutes.get(budget, {}).get(source)
            if entry:
                where = "" if source == corpus else f", run on shakespeare (no grid on {corpus})"
                where += "" if budget == f"{minutes:g}" else f" (no grid at {minutes:g} min)"
                return entry, f"grid: best of {len(entry['tried'])} at {budget} min{where}"
    return None, f"defaults: no grid run for {peer} at {minutes:g} min"


# --- tfcharrnn: scripts/train.py as a user runs it --------------------------------------------


def _thread_env(threads) -> dict:
    """--threads for a TensorFlow process that takes no thread flag: TensorFlow reads these at start-up."""
    return {"TF_NUM_INTRAOP_THREADS": str(threads), "TF_NUM_INTEROP_THREADS": str(threads)} if threads else {}


def read_run(run_dir: str) -> dict:
    """The figures of a finished scripts/train.py run: the best checkpoint's validation (best.json ->
    meta.json), the run's last step, epoch and time (metrics.jsonl's end record, else latest.json)."""
    with open(os.path.join(run_dir, "best.json"), encoding="utf-8") as f:
        best = os.path.join(run_dir, json.load(f)["checkpoint"])
    with open(os.path.join(best, "meta.json"), encoding="utf-8") as f:
        meta = json.load(f)
    state = meta["train_state"]
    end = {}
    metrics = os.path.join(run_dir, "metrics.jsonl")
    if os.path.exists(metrics):
        with open(metrics, encoding="utf-8") as f:
            ends = [r for r in map(json.loads, f) if r.get("kind") == "end"]
        end = ends[-1] if ends else {}
    if not end:
        with open(os.path.join(run_dir, "latest.json"), encoding="utf-8") as f:
            end = json.load(f)
    elapsed = end.get("elapsed_s")
    return {"val_loss": state["val_loss"], "val_bits": state["val_loss"] / math.log(2), "best_step": state["step"],
            "best_epoch": state["epoch"], "steps": end["step"], "epochs": end["epoch"], "train_s": elapsed,
            "chars_per_s": end["chars_seen"] / elapsed if elapsed and "chars_seen" in end else None, "params": end.get("params"),
            "stop_reason": end.get("stop_reason"), "config": meta["config"], "train_config": state.get("train_config", {}), "checkpoint": best,
            "raw_val_loss": end.get("raw_val_loss")}


def run_train_script(flags: list, run_dir: str, log_path: str, threads: int, timeout: float) -> dict:
    """python scripts/train.py FLAGS --checkpoint_dir RUN_DIR in a fresh run directory: read_run's
    figures plus the command and the process's wall time (start-up and autotuning included). A run
    killed by a signal (a crash in native code) is run once more from scratch; ``rerun_after`` says
    so and its output stays in LOG-crash.log."""
    argv = ["scripts/train.py", *flags, "--checkpoint_dir", run_dir]
    command, rerun_after = shlex.join(["python", *argv]), None
    for attempt in range(2):
        shutil.rmtree(run_dir, ignore_errors=True)
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, *argv], env=child_env(TF_CPP_MIN_LOG_LEVEL="3", **_thread_env(threads)),
                           cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        wall = time.perf_counter() - t0
        with open(log_path, "w", encoding="utf-8") as f:
            f.write(f"$ {command}\n{p.stdout}{p.stderr}")
        if p.returncode >= 0 or attempt:
            break
        crash_log = log_path[: -len(".log")] + "-crash.log"
        os.replace(log_path, crash_log)
        rerun_after = f"signal {-p.returncode} after {wall:.0f}s (its output: {os.path.basename(crash_log)})"
    if p.returncode != 0:
        raise RuntimeError(f"{command} failed (rc {p.returncode}): {p.stderr[-1500:]}")
    if os.path.exists(os.path.join(run_dir, "metrics.jsonl")):
        shutil.copy(os.path.join(run_dir, "metrics.jsonl"), log_path[: -len(".log")] + "-metrics.jsonl")
    return dict(read_run(run_dir), command=command, process_wall_s=wall, run_dir=run_dir, log=os.path.basename(log_path), rerun_after=rerun_after)


def _note_rerun(r, notes) -> None:
    if r.get("rerun_after"):
        notes.append(f"{r['command']} was killed by a {r['rerun_after']}; its figures are from a second run")


def _describe_defaults(r) -> str:
    c, t = r["config"], r["train_config"]
    text = f"{c['num_layers']}x{c['hidden_size']} {c['model'].upper()}, embedding {c['embedding_size']}"
    text += ", multiplicative integration" if c.get("multiplicative_integration") else ""
    text += ", skip connections to the output" if c.get("skip_connections") else ""
    for key in ("dropout", "weight_drop"):
        text += f", {key} {c[key]:g}" if c.get(key) else ""
    if t:
        text += f", batch {t.get('batch_size')} x {t.get('seq_length')}, {'Muon + ' if t.get('optimizer') == 'muon' else ''}Adam {t.get('learning_rate'):g}"
        text += f", weight decay {t['weight_decay']:g}" if t.get("weight_decay") else ""
        if t.get("ema_momentum"):
            raw = f"; the raw weights at the end: {r['raw_val_loss']:.4f}" if r.get("raw_val_loss") else ""
            text += f", weights averaged (EMA {t['ema_momentum']:g}{raw})"
    return text


def run_tfcharrnn(args, minutes: float, corpus: str, path: str, tag: str) -> dict:
    run_dir = os.path.join(args.tmp_dir, "tfcharrnn-quality-runs", tag)
    r = run_train_script(["--time_budget", f"{minutes:g}", "--train_data", path], run_dir,
                         os.path.join(args.log_dir, f"{tag}.log"), args.threads, timeout=minutes * 60 + 1800)
    r["label"] = f"tfcharrnn: `python scripts/train.py --time_budget {minutes:g}` (its choice: {_describe_defaults(r)})"
    return r


def run_noflag(args) -> dict:
    """The bare command on the bundled Tiny Shakespeare (--quick: capped at 2 steps, said in the command)."""
    tag = "quality-tfcharrnn-noflag"
    r = run_train_script(["--max_steps", "2"] if args.quick else [], os.path.join(args.tmp_dir, "tfcharrnn-quality-runs", tag),
                         os.path.join(args.log_dir, f"{tag}.log"), args.threads, timeout=3 * 3600)
    r["label"] = f"tfcharrnn with no flags: `python scripts/train.py` (its choice: {_describe_defaults(r)}; {r.get('stop_reason') or 'stopped'})"
    return r


# --- the PyTorch peers --------------------------------------------------------------------------


def lstm_sizes(tf_run) -> dict:
    """What the LSTM peer copies from a tfcharrnn run's checkpoint (its defaults without one): the
    sizes and dropout, the optimizer (adam, or muon: Muon on the LSTM's matrices), Adam's beta2 and
    weight decay, and the learning-rate schedule's shape; under Muon the LSTM's own best rate (LSTM_MUON_RATE)."""
    from benchmarks.lstm_peer import SIZES

    if not tf_run:
        return dict(SIZES)
    c = tf_run["config"]
    sizes = {"model": c["model"], "hidden_size": c["hidden_size"], "num_layers": c["num_layers"], "embedding_size": c["embedding_size"],
            "dropout": c.get("dropout", 0.0), "seq_length": tf_run["train_config"].get("seq_length", SIZES["seq_length"]),
            "weight_decay": tf_run["train_config"].get("weight_decay") or 0.0, "adam_beta2": tf_run["train_config"].get("adam_beta2", SIZES["adam_beta2"]),
            **{key: tf_run["train_config"].get(key) or SIZES[key] for key in ("optimizer", "lr_schedule", "min_lr_frac", "lr_decay_frac")}}
    return with_muon_rate(sizes)


# The LSTM's peak rate under Muon: its grid (docs/results/quality-grid.json) ran Adam. 15 minutes on Tiny Shakespeare at
# the recipe's sizes, seed 7 (AMD EPYC): 0.005 / 0.007 / 0.01 scored 1.3749 / 1.3684 / 1.3696 (docs/performance.md, quality).
LSTM_MUON_RATE = 7e-3


def with_muon_rate(sizes: dict) -> dict:
    """The peer's settings with its own best rate under Muon (under Adam its grid's stays)."""
    return dict(sizes, learning_rate=LSTM_MUON_RATE) if sizes.get("optimizer") == "muon" else sizes


def recipe_sizes(minutes: float, path: str) -> dict:
    """What the LSTM peer copies when the race has no tfcharrnn run: the recipe's choice for this
    budget and corpus (what `train.py --time_budget minutes` on it would pick), on a CPU."""
    from benchmarks.lstm_peer import SIZES
    from tfcharrnn.data import load_corpus
    from tfcharrnn.training.config import TrainConfig
    from tfcharrnn.training.recipe import resolve

    cfg = TrainConfig(train_data=path, time_budget=minutes)
    corpus = load_corpus(path, val_frac=cfg.val_frac)  # the split and vocabulary the trainer reads
    cfg, _ = resolve(cfg, train_chars=len(corpus.train), vocab_size=corpus.vocab.size)
    sizes = dict(SIZES, **{key: getattr(cfg, key) for key in ("model", "hidden_size", "num_layers", "embedding_size", "dropout",
                                                             "weight_decay", "optimizer")})
    return with_muon_rate(sizes)


def run_peer(args, peer: str, minutes: float, path: str, settings: dict, tag: str) -> dict:
    """One run of a PyTorch peer in its own process: its RESULT dict."""
    flags = ["--corpus", path, "--minutes", f"{minutes:g}", "--settings", json.dumps(settings), "--threads", str(args.threads)]
    r = run_child(CHILD_MODULES[peer], flags, child_env(), timeout=minutes * 60 + 1800, log_path=os.path.join(args.log_dir, f"{tag}.log"))
    r["log"] = f"{tag}.log"
    return r


def _log_run(log, r):
    log(f"  {r['peer']}: validation {r['val_loss']:.4f} nats/char after {r['steps']:,} steps ({r['epochs']:.2f} epochs, "
        f"{r['chars_per_s'] or 0:,.0f} chars/s; process {r['process_wall_s']:.0f}s)")


def _race_group(args, minutes, corpus, path, peers, grid, notes, log) -> list:
    """tfcharrnn, then the LSTM (its sizes), then the transformer, on one corpus at one budget."""
    runs, tf_run = [], None
    if "tfcharrnn" in peers:
        log(f"quality: tfcharrnn, {minutes:g} min, {corpus}")
        tf_run = run_tfcharrnn(args, minutes, corpus, path, f"quality-{minutes:g}min-{corpus}-tfcharrnn")
        runs.append(dict(tf_run, peer="tfcharrnn", minutes=minutes, corpus=corpus))
        _note_rerun(tf_run, notes)
        _log_run(log, runs[-1])
    for peer in ("torch", "torch-emb64", "transformer"):
        if peer not in peers:
            continue
        entry, source = grid_entry(grid, "torch" if peer.startswith("torch") else peer, minutes, corpus)
        settings = dict(entry["best"]) if entry else {}
        if peer.startswith("torch"):
            sizes = lstm_sizes(tf_run) if tf_run else recipe_sizes(minutes, path)
            if entry and entry.get("sizes", sizes) != sizes and peer == "torch":
                notes.append(f"torch at {minutes:g} min on {corpus}: the grid ran with sizes {entry['sizes']}, this race's tfcharrnn run has {sizes}")
            if peer == "torch-emb64":
                if sizes["embedding_size"] == OWN_EMBEDDING and "torch" in peers:
                    continue  # the same run as torch's
                sizes["embedding_size"] = OWN_EMBEDDING
            settings.update(sizes)
            source += "" if tf_run else "; sizes: the recipe's for this budget and corpus (no tfcharrnn run in this race)"
        log(f"quality: {peer}, {minutes:g} min, {corpus} ({source})")
        r = run_peer(args, peer, minutes, path, settings, f"quality-{minutes:g}min-{corpus}-{peer}")
        runs.append(dict(r, peer=peer, minutes=minutes, corpus=corpus, settings_source=source))
        _log_run(log, runs[-1])
    return runs


def selected_peers(args, notes) -> list:
    peers = list(args.quality_peers)
    if not torch_available() and {"torch", "transformer"} & set(peers):
        notes.append("PyTorch is not installed: the PyTorch LSTM and transformer quality runs are skipped (pip install -e .[bench])")
        peers = [p for p in peers if p not in CHILD_MODULES]
    return peers


def run_quality(args, results, notes, log):
    peers, minutes = selected_peers(args, notes), minutes_list(args)
    paths = corpus_paths(args)
    grid_path = grid_file(args)
    grid = load_grid(grid_path)
    if not grid and {"torch", "transformer"} & set(peers):
        notes.append(f"no quality grid at {grid_path}: the PyTorch peers use their defaults (run --only quality-grid first)")
    runs = []
    for m in minutes:
        for corpus, path in paths.items():
            runs += _race_group(args, m, corpus, path, peers, grid, notes, log)
    if "tfcharrnn-noflag" in peers:
        log("quality: tfcharrnn-noflag (python scripts/train.py, no flags)")
        runs.append(dict(run_noflag(args), peer="tfcharrnn-noflag", minutes=None, corpus="shakespeare"))
        _note_rerun(runs[-1], notes)
        _log_run(log, runs[-1])
    command = (f"python scripts/bench.py --only quality --quality-minutes {','.join(f'{m:g}' for m in minutes)} "
               f"--quality-corpora {','.join(paths)} --quality-peers {','.join(args.quality_peers)}")
    results["quality"] = {"minutes": minutes, "peers": peers, "grid_file": grid_path, "runs": runs, "command": command,
                          "corpora": {name: corpora.describe(path) for name, path in paths.items()}}
