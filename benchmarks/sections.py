"""The training, peak and generation sections: which peers run in which worker processes, and
how their interleaved rounds become the JSON (medians, ratios, every round kept).

    python scripts/bench.py --only train,peak,generate

Each ``run_*(args, results, notes, log)`` fills ``results[section]``; ``args`` are the parsed
flags of scripts/bench.py (benchmarks.command.bench_parser). The preparation and quality
sections live in benchmarks.prep and benchmarks.quality.
"""

from __future__ import annotations

from benchmarks.common import EMBEDDING, VOCAB_SIZE, median, torch_available
from benchmarks.generate_peers import FULL_GEN, GEN_PEERS, QUICK_GEN
from benchmarks.train_peers import FULL_TRAIN, ONEDNN_PEERS, QUICK_TRAIN, TFCHARRNN_PATHS, TRAIN_PEERS, matmul_params, train_flops_per_char
from tfcharrnn import onednn
from benchmarks.workers import Jobs, interleave

SECTIONS = ("train", "peak", "generate", "prep", "quality-grid", "quality", "quantization", "web")
# quality and its grid train for minutes per run, quantization needs trained checkpoints, web needs Chromium: asked for by name
DEFAULT_SECTIONS = ("train", "peak", "generate", "prep")

# --- training -----------------------------------------------------------------------------------

def _train_spec(peer):
    """The worker spec of a training peer other than PyTorch, or None."""
    if peer in TFCHARRNN_PATHS:
        return {"peer": "train-tfcharrnn", "path": TFCHARRNN_PATHS[peer]}
    if peer in ONEDNN_PEERS:  # its own process: TensorFlow reads the variable once, at its import
        return {"peer": "train-tfcharrnn", "path": None, "env": {onednn.VARIABLE: ONEDNN_PEERS[peer]}, "process": peer}
    if peer == "keras-fit":
        return {"peer": "train-keras-fit"}
    return None


def _train_configs(args):
    configs = QUICK_TRAIN if args.quick else FULL_TRAIN
    if args.configs:
        wanted = [c.strip() for c in args.configs.split(",") if c.strip()]
        unknown = [c for c in wanted if c not in configs]
        if unknown:
            raise SystemExit(f"unknown training config(s) {unknown}; known: {', '.join(configs)}")
        configs = {c: configs[c] for c in wanted}
    return configs


def _train_jobs(args, config, peers, have_torch):
    jobs = {}
    for p in peers:
        spec = {"config": list(config), "warmup_s": 0.3 if args.quick else 2.0}
        if args.quick:
            spec["process"] = "torch" if p.startswith("torch") else "tf"  # fewer TensorFlow start-ups
        if _train_spec(p):
            jobs[p] = dict(spec, **_train_spec(p))
        elif p == "torch":
            if have_torch:
                jobs[p] = dict(spec, peer="train-torch")
                if not args.quick and args.threads != 1:  # PyTorch's best: its default threads, or one
                    jobs["torch-1t"] = dict(spec, peer="train-torch", threads=1)
        else:
            raise SystemExit(f"unknown training peer {p!r}; known: {', '.join(TRAIN_PEERS)}")
    return jobs


def _train_entry(config, rounds, info, labels):
    kind = config[0]
    flops = train_flops_per_char(kind, config[1], config[2])
    entry = {"model": kind, "hidden_size": config[1], "num_layers": config[2], "batch_size": config[3], "seq_length": config[4],
             "vocab_size": VOCAB_SIZE, "embedding_size": EMBEDDING, "matmul_params": matmul_params(kind, config[1], config[2]),
             "flops_per_char": flops, "peers": {}}
    for name, rs in rounds.items():
        rate = median([r["rate"] for r in rs])
        threads = info.get(name, {})
        label = labels[name]
        if name == "tfcharrnn":
            state = {True: "on", False: "off"}.get(threads.get("onednn"), "?")
            label = f"tfcharrnn Trainer (the default: path {threads.get('path', '?')}, oneDNN {state})"
        elif name in ONEDNN_PEERS:
            label = f"{label}: path {threads.get('path', '?')}"
        if name == "torch-1t":
            label = f"PyTorch nn.{kind.upper()} + Adam, 1 thread"
        elif name == "torch":
            label = f"PyTorch nn.{kind.upper()} + Adam, {threads.get('torch_threads', '?')} threads"
        entry["peers"][name] = {"label": label, "chars_per_s": rate, "gflops": rate * flops / 1e9,
                                "cpu_chars_per_s": median([r["cpu_rate"] for r in rs]),
                                "rounds": [r["rate"] for r in rs], "threads": threads}
    torch_names = [n for n in ("torch", "torch-1t") if n in entry["peers"]]
    if torch_names:  # compare against PyTorch's faster thread setting in this run
        entry["pytorch_reference"] = max(torch_names, key=lambda n: entry["peers"][n]["chars_per_s"])
    base = entry["peers"].get("tfcharrnn", {}).get("chars_per_s")
    for ref_key, ref in (("pytorch", entry.get("pytorch_reference")), ("keras-fit", "keras-fit" if "keras-fit" in entry["peers"] else None)):
        if ref and base:
            # the ratio of medians, and per-round ratios (rounds are adjacent in time)
            entry[f"tfcharrnn_vs_{ref_key}"] = base / entry["peers"][ref]["chars_per_s"]
            entry[f"tfcharrnn_vs_{ref_key}_rounds"] = [a["rate"] / b["rate"] for a, b in zip(rounds["tfcharrnn"], rounds[ref])]
    return entry


def run_train(args, results, notes, log):
    configs = _train_configs(args)
    have_torch = torch_available()
    if not have_torch:
        notes.append("PyTorch is not installed: its training and generation rows are skipped (pip install -e .[bench])")
    peers = [p for p in args.train_peers.split(",") if p]
    labels = dict(TRAIN_PEERS)
    out = {}
    for cname, config in configs.items():
        jobs = _train_jobs(args, config, peers, have_torch)
        log(f"train {cname}: {config[2]}x{config[1]} {config[0]}, batch {config[3]} x seq {config[4]}: setting up {', '.join(jobs)}")
        workers = Jobs(jobs, args.threads, args.log_dir, notes)
        try:
            rounds = interleave(workers, args.repeats, args.seconds, log, f"train {cname}")
        finally:
            workers.close()
        out[cname] = _train_entry(config, rounds, workers.info, labels)
    results["train"] = out


# --- matmul peak --------------------------------------------------------------------------------


def run_peak(args, results, notes, log):
    n = 512 if args.quick else 2048
    jobs = {"tf": {"peer": "peak-tf", "n": n, "warmup_s": 0.3 if args.quick else 1.0}}
    if torch_available():
        jobs["torch"] = {"peer": "peak-torch", "n": n, "warmup_s": 0.3 if args.quick else 1.0}
    log(f"peak: float32 matmul {n}x{n} @ {n}x{n}")
    workers = Jobs(jobs, args.threads, args.log_dir, notes)
    info = workers.info
    try:
        rounds = interleave(workers, args.repeats, max(0.2, args.seconds / 2), log, "peak FLOP/s")
    finally:
        workers.close()
    per = {name: median([r["rate"] for r in rs]) / 1e9 for name, rs in rounds.items()}
    best = max(per.values()) if per else None
    results["peak"] = {"n": n, "gflops": best, "by_library": per, "rounds": {k: [r["rate"] / 1e9 for r in v] for k, v in rounds.items()},
                       "threads": info}


# --- generation ---------------------------------------------------------------------------------


def _generate_rounds(workers, gen_peers, batches, num_chars, cname, args, log):
    rounds = {(p, b): [] for p, _ in gen_peers for b in batches}
    for p, w in gen_peers:
        for b in batches:
            workers.call(w, op="warm-gen", gen=[p, b, min(num_chars, 20)])
    for r in range(args.repeats):
        for b in batches:
            for p, w in gen_peers:
                rounds[(p, b)].append(workers.call(w, op="measure", seconds=0, gen=[p, b, num_chars]))
        rates = (f"{p}@{b} {rounds[(p, b)][-1]['rate']:,.0f}" for p, _ in gen_peers for b in batches)
        log(f"  generate {cname} round {r + 1}/{args.repeats}: " + ", ".join(rates))
    return rounds


def run_generate(args, results, notes, log):
    configs = QUICK_GEN if args.quick else FULL_GEN
    num_chars = 30 if args.quick else 400
    batches = (1, 4) if args.quick else (1, 32)
    out = {}
    for cname, config in configs.items():
        jobs = {"tf": {"peer": "gen-tf", "config": list(config)}}
        if torch_available():
            jobs["torch"] = {"peer": "gen-torch", "config": list(config)}
            if not args.quick and args.threads != 1:
                jobs["torch-1t"] = {"peer": "gen-torch", "config": list(config), "threads": 1}
        log(f"generate {cname}: {config[2]}x{config[1]} {config[0]}, {num_chars} chars at batch {', '.join(map(str, batches))}")
        workers = Jobs(jobs, args.threads, args.log_dir, notes)
        gen_peers = [("tfcharrnn", "tf"), ("onestep", "tf")] + [(t, t) for t in ("torch", "torch-1t") if t in workers.ready]
        extra = {}
        try:
            rounds = _generate_rounds(workers, gen_peers, batches, num_chars, cname, args, log)
            extra = _module_benches(workers, config, num_chars, max(batches), args, notes, log)
        finally:
            workers.close()
        entry = {"model": config[0], "hidden_size": config[1], "num_layers": config[2], "num_chars": num_chars, "peers": {}}
        for p, _ in gen_peers:
            entry["peers"][p] = {"label": GEN_PEERS[p]}
            for b in batches:
                entry["peers"][p][f"batch{b}_chars_per_s"] = median([x["rate"] for x in rounds[(p, b)]])
                entry["peers"][p][f"batch{b}_rounds"] = [x["rate"] for x in rounds[(p, b)]]
        if "serving_2000" in extra:
            entry["serving_2000"] = extra.pop("serving_2000")
        entry["peers"].update(extra)
        entry["batches"] = list(batches)
        out[cname] = entry
    results["generate"] = out


def _serving_rows(extra, worker, config, num_chars, batch, args, notes, log):
    repeats = 1 if args.quick else 3
    r = worker.call("tf", op="call", which="serving", config=list(config), num_chars=num_chars, batch=batch, repeats=repeats)["result"]
    extra["savedmodel"] = {"label": "SavedModel serving_default (benchmarks.serving.bench_serving, best of its repeats)",
                           "batch1_chars_per_s": r["batch1_chars_per_s"], f"batch{batch}_chars_per_s": r[f"batch{batch}_chars_per_s"]}
    log(f"  SavedModel serving_default: {r['batch1_chars_per_s']:,.0f} chars/s at batch 1")
    # issue 3's setting: one request of 2,000 characters against the OneStep loop, same process
    # (--quick: the request above, to spare a second export)
    if args.quick:
        raw = r["raw"]
    else:
        raw = worker.call("tf", op="call", which="serving", config=list(config), num_chars=2000, batch=32, repeats=repeats)["result"]["raw"]
    paired = raw["paired_speedup_vs_onestep"]
    extra["serving_2000"] = {k: raw[k] for k in ("num_chars", "speedup_vs_onestep", "paired_speedup_vs_onestep", "speedup_vs_onestep_session",
                                                 "batch_cost", "serving_us_per_char", "onestep_us_per_char")}
    notes.append(f"{config[2]}x{config[1]} {config[0]}, batch 1, {raw['num_chars']:,} characters: SavedModel serving_default "
                 f"{raw['speedup_vs_onestep']:.1f}x the OneStep loop (per round {paired['min']:.1f}-{paired['max']:.1f}x; "
                 f"{raw['speedup_vs_onestep_session']:.1f}x through the TF1 session loader TF Serving uses); "
                 f"a batch of {raw['batch']} prompts costs {raw['batch_cost']:.1f}x one prompt")


def _tflite_row(extra, worker, config, num_chars, args, log):
    repeats = 1 if args.quick else 3
    r = worker.call("tf", op="call", which="tflite", config=list(config), num_chars=num_chars, repeats=repeats)["result"]
    for i, (label, setting) in enumerate(r["settings"].items()):
        key = "tflite" if i == 0 else f"tflite-{i}"  # the first setting is the reference sampler's default row
        extra[key] = {"label": f"LiteRT sampler, {label} (benchmarks.litert.bench_settings, best of its rounds)",
                      "batch1_chars_per_s": setting["chars_per_s"], "size_bytes": setting["size_bytes"]}
        log(f"  LiteRT sampler, {label}: {setting['chars_per_s']:,.0f} chars/s at batch 1")


def _module_benches(worker, config, num_chars, batch, args, notes, log):
    """SavedModel serving_default and the LiteRT sampler, through benchmarks.serving and .litert."""
    extra = {}
    try:
        _serving_rows(extra, worker, config, num_chars, batch, args, notes, log)
    except (RuntimeError, KeyError) as e:
        notes.append(f"SavedModel serving benchmark failed, skipped: {str(e).splitlines()[0][:300]}")
    try:
        _tflite_row(extra, worker, config, num_chars, args, log)
    except (RuntimeError, KeyError) as e:
        notes.append(f"TFLite sampler benchmark failed, skipped: {str(e).splitlines()[0][:300]}")
    return extra
