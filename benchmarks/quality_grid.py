"""The grid before the race: each PyTorch peer's best settings per budget and corpus, written to a file.

    python scripts/bench.py --only quality-grid                     # 3 minutes on shakespeare: 9 runs, ~30 min
    python scripts/bench.py --only quality-grid --quality-minutes 15 --quality-corpora shakespeare
    python scripts/bench.py --only quality-grid,quality             # the grid, then the race with its choices

For each minutes value and corpus, one run after another, each in its own process:
  tfcharrnn     python scripts/train.py --time_budget M --train_data FILE, once: the sizes the LSTM copies
  torch         benchmarks.lstm_peer.GRID: Adam's learning rate {5e-3, 1e-2} x batch {32, 64}
  transformer   benchmarks.transformer_peer.grid(M): the budget's two sizes x learning rate {1e-3, 2e-3}
(--quality-peers chooses among torch and transformer; --quick tries each grid's first and last
point only.) The lowest validation loss is a peer's best: chosen on the race's own validation
text, which favours the peers, as it should (a peer given poor settings proves nothing). The
grid file (--quality-grid-file; default docs/results/quality-grid.json, --quick OUT/quality-grid.json)
keeps per peer, minutes and corpus the best settings and every point tried with its figures; a
rerun replaces only the entries it runs. benchmarks.quality reads it.
"""

from __future__ import annotations

import datetime
import json
import os

from benchmarks import lstm_peer, transformer_peer
from benchmarks.quality import corpus_paths, grid_file, load_grid, lstm_sizes, minutes_list, run_peer, run_tfcharrnn, selected_peers
from benchmarks.report import machine_info


def points(peer: str, minutes: float, quick: bool) -> list:
    tried = lstm_peer.GRID if peer == "torch" else transformer_peer.grid(minutes)
    return [tried[0], tried[-1]] if quick else list(tried)


def save_grid(grid: dict, path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(grid, f, indent=1)
        f.write("\n")
    os.replace(path + ".tmp", path)


def _grid_group(args, minutes, corpus, path, peers, log) -> tuple:
    """Every grid point of every peer on one corpus at one budget: ({peer: grid entry}, runs)."""
    entries, runs, sizes = {}, [], None
    if "torch" in peers:
        log(f"quality-grid: tfcharrnn, {minutes:g} min, {corpus} (the sizes the LSTM copies)")
        tf_run = run_tfcharrnn(args, minutes, corpus, path, f"grid-{minutes:g}min-{corpus}-tfcharrnn")
        runs.append(dict(tf_run, peer="tfcharrnn", minutes=minutes, corpus=corpus))
        sizes = lstm_sizes(tf_run)
    for peer in ("torch", "transformer"):
        if peer not in peers:
            continue
        tried = []
        for i, point in enumerate(points(peer, minutes, args.quick)):
            settings = dict(point, **sizes) if peer == "torch" else dict(point)
            r = run_peer(args, peer, minutes, path, settings, f"grid-{minutes:g}min-{corpus}-{peer}-{i}")
            log(f"  {peer} {point}: validation {r['val_loss']:.4f} after {r['steps']:,} steps ({r['epochs']:.2f} epochs)")
            runs.append(dict(r, peer=peer, minutes=minutes, corpus=corpus))
            tried.append({"settings": point, "val_loss": r["val_loss"], "steps": r["steps"], "epochs": r["epochs"], "chars_per_s": r["chars_per_s"]})
        best = min(tried, key=lambda t: t["val_loss"])
        entries[peer] = {"best": best["settings"], "val_loss": best["val_loss"], "tried": tried, "sizes": sizes if peer == "torch" else None,
                         "measured": datetime.date.today().isoformat(), "cpu": machine_info(args.threads).get("cpu"),
                         "command": f"python scripts/bench.py --only quality-grid "
                         f"--quality-minutes {minutes:g} --quality-corpora {corpus} --quality-peers {peer}"}
        log(f"  {peer}: best {best['settings']} ({best['val_loss']:.4f})")
    return entries, runs


def run_quality_grid(args, results, notes, log):
    peers = [p for p in selected_peers(args, notes) if p in ("torch", "transformer")]
    path = grid_file(args)
    grid, runs = load_grid(path), []
    for minutes in minutes_list(args):
        for corpus, corpus_path in corpus_paths(args).items():
            entries, group_runs = _grid_group(args, minutes, corpus, corpus_path, peers, log)
            runs += group_runs
            for peer, entry in entries.items():
                grid.setdefault(peer, {}).setdefault(f"{minutes:g}", {})[corpus] = entry
            save_grid(grid, path)  # after every group: an interrupted grid keeps what it measured
    results["quality-grid"] = {"file": path, "peers": peers, "minutes": minutes_list(args), "runs": runs,
                               "best": {p: grid.get(p, {}) for p in peers}}
