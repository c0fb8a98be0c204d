"""What the benchmark writes: the machine it ran on, bench.json (every round) and bench.md (the tables).

    from benchmarks.report import to_markdown
    import json; print(to_markdown(json.load(open("bench_results/bench.json"))))
"""

from __future__ import annotations

import json
import os
import platform

from tfcharrnn import onednn


def machine_info(threads) -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version(), "cpu_count": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        for line in text.splitlines():
            if line.startswith("model name") and "cpu" not in info:
                info["cpu"] = line.split(":", 1)[1].strip()
            if line.startswith("flags") and "flags" not in info:
                flags = set(line.split(":", 1)[1].split())
                info["flags"] = sorted(f for f in flags if f.startswith(("avx", "amx", "fma")))
        with open("/proc/meminfo") as f:
            info["memory_gb"] = round(int(f.readline().split()[1]) / 1e6, 1)
    except OSError:
        pass
    try:
        import importlib.metadata as md

        for pkg in ("tensorflow", "keras", "torch", "numpy"):
            try:
                info[pkg] = md.version(pkg)
            except md.PackageNotFoundError:
                pass
    except ImportError:
        pass
    info["threads"] = threads or "library defaults"
    info["onednn"] = onednn.in_force()  # what every TensorFlow peer inherits, unless its name forces it (tfcharrnn-onednn-on/-off)
    return info


def _fmt(x, digits=0):
    if x is None:
        return "-"
    return f"{x:,.{digits}f}"


def _header(results):
    m = results["machine"]
    flags = ", ".join(f for f in m.get("flags", []) if f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_bf16"))
    return ["## Performance", "",
            f"Measured {results['started']} on {m.get('cpu', 'unknown CPU')} ({m.get('cpu_count')} logical cores, "
            f"{m.get('memory_gb', '?')} GB; {flags}; {m.get('onednn', 'oneDNN not recorded')}), "
            f"TensorFlow {m.get('tensorflow', '-')}, Keras {m.get('keras', '-')}, PyTorch {m.get('torch', 'not installed')}; "
            f"threads: {m.get('threads')}. Load average before / after: {results['load_before']} / {results.get('load_after')}.",
            "",
            f"Command: `{results['command']}`. Each peer runs in its own process; peers are measured interleaved, "
            f"{results['settings']['repeats']} rounds of ~{results['settings']['seconds']:g} s each, medians reported.",
            ""]


def _train_table(train, peak):
    lines = ["### Training (characters per second, steady state)", "",
             "| config | peer | chars/s | vs PyTorch | vs model.fit | GFLOP/s | of matmul peak |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for cname, e in train.items():
        cfg = f"{cname}: {e['num_layers']}x{e['hidden_size']} {e['model'].upper()}, b{e['batch_size']} s{e['seq_length']}"
        ref = e.get("pytorch_reference")
        torch_rate = e["peers"][ref]["chars_per_s"] if ref else None
        fit_rate = e["peers"].get("keras-fit", {}).get("chars_per_s")
        for name, p in e["peers"].items():
            rate = p["chars_per_s"]
            vs_t = f"{rate / torch_rate:.2f}x" if torch_rate else "-"
            vs_f = f"{rate / fit_rate:.2f}x" if fit_rate else "-"
            of_peak = f"{100 * p['gflops'] / peak:.0f}%" if peak else "-"
            label = f"**{p['label']}**" if name == "tfcharrnn" else p["label"]
            if name == ref and len([n for n in e["peers"] if n.startswith("torch")]) > 1:
                label += " (the faster PyTorch setting: the reference)"
            lines.append(f"| {cfg} | {label} | {_fmt(rate)} | {vs_t} | {vs_f} | {_fmt(p['gflops'], 1)} | {of_peak} |")
    lines += ["", "GFLOP/s counts 6 x (parameters in matmuls) per character: forward 2x, backward 4x; "
              "the cells' input and recurrent kernels and the output layer.", ""]
    return lines


def _peak_line(p):
    libs = ", ".join(f"{k} {v:,.0f}" for k, v in p["by_library"].items())
    return [f"Float32 matmul peak of this machine ({p['n']}x{p['n']} @ {p['n']}x{p['n']}, same run): **{_fmt(p['gflops'])} GFLOP/s** ({libs}).", ""]


def _generate_tables(generate):
    lines = ["### Generation (characters per second)", ""]
    for cname, e in generate.items():
        bs = e["batches"]
        lines.append(f"{cname}: {e['num_layers']}x{e['hidden_size']} {e['model'].upper()}, {e['num_chars']} characters per row")
        lines.append("")
        lines.append("| peer | " + " | ".join(f"batch {b}" for b in bs) + " |")
        lines.append("|---|" + "---:|" * len(bs))
        for name, p in e["peers"].items():
            label = f"**{p['label']}**" if name == "tfcharrnn" else p["label"]
            lines.append(f"| {label} | " + " | ".join(_fmt(p.get(f"batch{b}_chars_per_s")) for b in bs) + " |")
        lines.append("")
    return lines


def _prep_table(p):
    mb = p["corpus"]["bytes"] / 1e6
    t = p["train_cached"]
    return [f"### Corpus preparation ({mb:.0f} MB UTF-8 corpus, {p['first_run']['chars']:,} characters, vocabulary {p['first_run']['vocab_size']})", "",
            "| stage | seconds | peak RSS (MB) |",
            "|---|---:|---:|",
            f"| encode, first run (read, vocabulary, ids, write cache) | {p['first_run']['seconds']:.2f} | {p['first_run']['peak_rss_mb']:.0f} |",
            f"| encode, cached run (ids memory-mapped) | {p['cached_run']['seconds']:.2f} | {p['cached_run']['peak_rss_mb']:.0f} |",
            f"| training on it, cached ({t.get('model', '')}): Trainer() to the first step done = {t['trainer_init_s']:.2f} s Trainer() "
            f"(corpus {t.get('corpus_load_s', 0):.2f} s) + {t.get('first_step_compile_s', 0):.2f} s first step (tracing, compiling); "
            f"{t['first_step_from_process_start_s']:.1f} s from process start ({t['imports_s']:.1f} s Python + TensorFlow imports) "
            f"| {t['first_step_s']:.2f} | {t['peak_rss_mb']:.0f} (whole run, {t['steps']} steps) |"] + (
            [f"| the first training run on this machine and shape (the same, plus timing the training paths once) "
             f"| {p['train_first']['first_step_s']:.2f} | {p['train_first']['peak_rss_mb']:.0f} |"] if "train_first" in p else []) + [""]


def _quality_table(q):
    corpora = ", ".join(f"{name} ({c['chars']:,} characters, {c['distinct']:,} distinct)" for name, c in q["corpora"].items())
    lines = ["### Quality in a time budget (validation nats/char on the last 10% of each corpus)", "", f"Corpora: {corpora}.", "",
             "| minutes | corpus | peer | nats/char | steps | epochs | chars/s | process s | settings |",
             "|---:|---|---|---:|---:|---:|---:|---:|---|"]
    for r in q["runs"]:
        label = f"**{r['label']}**" if r["peer"].startswith("tfcharrnn") else r["label"]
        minutes = f"{r['minutes']:g}" if r["minutes"] is not None else "(stops by itself)"
        lines.append(f"| {minutes} | {r['corpus']} | {label} | {r['val_loss']:.4f} | {r['steps']:,} | {r['epochs']:.2f} | "
                     f"{_fmt(r['chars_per_s'])} | {r['process_wall_s']:.0f} | {r.get('settings_source', 'its defaults')} |")
    lines += ["", f"Each run in its own process, one after the other; reproduce with `{q['command']}` "
              f"(the PyTorch peers' settings: `{q['grid_file']}`).", ""]
    return lines


def _grid_table(g):
    lines = [f"### Quality grid (the PyTorch peers' settings before the race; written to `{g['file']}`)", "",
             "| minutes | corpus | peer | settings | nats/char | steps | epochs |", "|---:|---|---|---|---:|---:|---:|"]
    for r in g["runs"]:
        if r["peer"] == "tfcharrnn":
            continue
        tried = {k: v for k, v in r["settings"].items() if k in ("learning_rate", "batch_size", "size", "dropout")}
        best = g["best"][r["peer"]][f"{r['minutes']:g}"][r["corpus"]]["best"]
        mark = "**" if all(tried.get(k) == v for k, v in best.items()) else ""
        lines.append(f"| {r['minutes']:g} | {r['corpus']} | {r['peer']} | {mark}{tried}{mark} | {r['val_loss']:.4f} | {r['steps']:,} | {r['epochs']:.2f} |")
    return lines + ["", "In bold: each peer's best, which the race uses.", ""]


def _quantization_table(q):
    lines = ["### LiteRT: file size and validation cost of quantized weights (trained checkpoints)", "",
             "| model | float32 | `--quantize float16` | `--quantize dynamic` (int8) | cost of float16 | cost of int8 | Keras nats/char |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for path, r in q.items():
        size = {m: f"{r[m]['size_bytes'] / 1e6:.2f} MB" for m in ("none", "float16", "dynamic")}
        lines.append(f"| {r['model']} ({r['params']:,} parameters, vocabulary {r['vocab_size']}, step {r['step']}; `{path}`) | {size['none']} "
                     f"| {size['float16']} | {size['dynamic']} | {r['float16']['loss_cost']:+.5f} | {r['dynamic']['loss_cost']:+.5f} | {r['keras_loss']:.4f} |")
    lines += ["", f"Costs in nats/char against the Keras model on {next(iter(q.values()))['chars']:,} characters of each checkpoint's validation split.", ""]
    return lines


def _web_table(w):
    return [f"### In a browser: {w['model']}, batch 1, {w['num_chars']:,} characters per round ({w['weights']} weights)", "",
            "| sampler | chars/s (best round) |", "|---|---:|",
            f"| the page in headless Chromium {w['chromium']}, LiteRT.js {w['litertjs']} | {_fmt(w['page_chars_per_s'])} |",
            f"| Python LiteRT sampler (ai-edge-litert {w['ai_edge_litert']}, 1 thread) | {_fmt(w['python_chars_per_s'])} |",
            "", f"The page runs at {w['page_over_python']:.2f}x the Python sampler; rounds alternate the two.", ""]


def to_markdown(results) -> str:
    lines = _header(results)
    peak = results.get("peak", {}).get("gflops")
    if "train" in results:
        lines += _train_table(results["train"], peak)
    if "peak" in results:
        lines += _peak_line(results["peak"])
    if "generate" in results:
        lines += _generate_tables(results["generate"])
    if "prep" in results:
        lines += _prep_table(results["prep"])
    if results.get("quality-grid", {}).get("peers"):  # without PyTorch there is no peer to tune: no table
        lines += _grid_table(results["quality-grid"])
    if "quality" in results:
        lines += _quality_table(results["quality"])
    if results.get("quantization"):
        lines += _quantization_table(results["quantization"])
    if "web" in results:
        lines += _web_table(results["web"])
    if results.get("notes"):
        lines += ["Notes:", ""] + [f"- {n}" for n in results["notes"]] + [""]
    return "\n".join(lines)


def write(results, out_dir) -> tuple[str, str]:
    """bench.json and bench.md in ``out_dir``: their paths."""
    json_path = os.path.join(out_dir, "bench.json")
    md_path = os.path.join(out_dir, "bench.md")
    with open(json_path, "w") as f:
        json.dump(results, f, indent=1)
    with open(md_path, "w") as f:
        f.write(to_markdown(results) + "\n")
    return json_path, md_path
