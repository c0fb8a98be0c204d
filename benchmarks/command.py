"""The command line of scripts/bench.py: its flags, the sections in order, bench.json and bench.md written.

    python scripts/bench.py --help
    from benchmarks.command import main; main(["--quick", "--out", "/tmp/bench"])   # from the repository root

The sections live in the other modules of this package (benchmarks/__init__.py lists them).
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
import time

import benchmarks
from benchmarks.litert import run_quantization
from benchmarks.prep import run_prep
from benchmarks.corpora import CORPORA, check_available
from benchmarks.quality import DEFAULT_PEERS, PEERS, run_quality
from benchmarks.quality_grid import run_quality_grid
from benchmarks.report import machine_info, to_markdown, write
from benchmarks.sections import DEFAULT_SECTIONS, SECTIONS, run_generate, run_peak, run_train
from benchmarks.train_peers import FULL_TRAIN, TRAIN_PEERS
from benchmarks.web import run_web
from tfcharrnn import onednn
from tfcharrnn.cli.flags import Parser, integer, number, number_list

RUNNERS = {"peak": run_peak, "train": run_train, "generate": run_generate, "prep": run_prep, "quality-grid": run_quality_grid,
           "quality": run_quality, "web": run_web, "quantization": run_quantization}
# peak first: the training table needs it; the grid before the race: the race reads its file
ORDER = ("peak", "train", "generate", "prep", "quality-grid", "quality", "quantization", "web")


def names(known, flag):
    """A converter for "a,b": a non-empty list of names out of ``known``."""

    def parse(text):
        values = [v for v in text.replace(" ", "").split(",") if v]
        unknown = [v for v in values if v not in known]
        if unknown or not values:
            raise argparse.ArgumentTypeError(f"{flag}: unknown {', '.join(unknown) or 'empty list'}; known: {', '.join(known)}")
        return values

    return parse


def bench_parser() -> argparse.ArgumentParser:
    p = Parser(prog="bench.py", description=benchmarks.__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny sizes and short rounds: a smoke test in seconds")
    p.add_argument("--only", default=",".join(DEFAULT_SECTIONS),
                   help=f"comma-separated sections: {', '.join(SECTIONS)} (default: all but quality-grid, quality, quantization and web)")
    p.add_argument("--out", default="bench_results", help="directory for bench.json and bench.md")
    p.add_argument("--repeats", type=integer, default=None, help="interleaved rounds per peer (default 5; --quick 2)")
    p.add_argument("--seconds", type=number, default=None, help="seconds per training round (default 3; --quick 0.2)")
    p.add_argument("--threads", type=integer, default=0, help="intra/inter-op threads for every peer (TF and torch); 0 = library defaults")
    p.add_argument("--train-peers", default="tfcharrnn,tfcharrnn-step-groups,tfcharrnn-layer-groups,tfcharrnn-whole-batch,tfcharrnn-xla,tfcharrnn-keras,"
                                            "tfcharrnn-layer-groups-bf16,keras-fit,torch",
                   help=f"training peers, comma separated (known: {', '.join(TRAIN_PEERS)})")
    p.add_argument("--configs", default="", help=f"training configs, comma separated (default all: {', '.join(FULL_TRAIN)})")
    p.add_argument("--tmp-dir", default=None, help="where generated corpora (prep's 100 MB one, quality's), their cache and the quality runs' "
                                                 "checkpoints go (not the repo; default: the system's temporary directory)")
    p.add_argument("--quality-minutes", type=number_list(float, "quality-minutes"), default=None,
                   help="quality, quality-grid: minutes of training per run, comma separated (default 3; --quick 0.02)")
    p.add_argument("--quality-corpora", type=names(CORPORA, "--quality-corpora"), default="shakespeare",
                   help=f"quality, quality-grid: corpora, comma separated (known: {', '.join(CORPORA)}; --quick: their first 30,000 characters)")
    p.add_argument("--quality-peers", type=names(PEERS, "--quality-peers"), default=",".join(DEFAULT_PEERS),
                   help=f"quality, quality-grid: peers, comma separated (known: {', '.join(PEERS)}; the grid tunes torch and transformer)")
    p.add_argument("--quality-grid-file", default=None,
                   help="quality-grid writes, quality reads the PyTorch peers' best settings here (default docs/results/quality-grid.json; "
                        "--quick: OUT/quality-grid.json)")
    p.add_argument("--checkpoints", default="", help="quantization: trained checkpoints or run directories, comma separated")
    return p


def _run_sections(args, only, results, log):
    for section in ORDER:
        if section in only:
            try:
                RUNNERS[section](args, results, results["notes"], log)
            except Exception as e:  # one broken section must not lose the others
                results["notes"].append(f"section {section} failed: {type(e).__name__}: {str(e)[:500]}")
                log(f"section {section} failed: {e}")


def main(argv=None):
    ap = bench_parser()
    args = ap.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        ap.error(f"unknown section(s) {unknown}; known: {', '.join(SECTIONS)}")
    if {"quality", "quality-grid"} & set(only):
        check_available(args.quality_corpora)  # a missing corpus stops the run before anything is timed
    args.tmp_dir = os.path.abspath(args.tmp_dir or tempfile.gettempdir())  # child processes run in the repository root
    args.repeats = args.repeats or (2 if args.quick else 5)
    args.seconds = args.seconds if args.seconds is not None else (0.2 if args.quick else 3.0)
    os.makedirs(args.out, exist_ok=True)
    args.log_dir = os.path.join(args.out, "logs")
    os.makedirs(args.log_dir, exist_ok=True)

    def log(msg):
        print(msg, flush=True)

    onednn.apply(log=log)  # measured here, once, before any worker starts: the TensorFlow workers inherit the setting
    command = " ".join(["python", "scripts/bench.py"] + (argv if argv is not None else sys.argv[1:]))
    results = {"started": datetime.datetime.now().isoformat(timespec="seconds"), "command": command,
               "settings": {"quick": args.quick, "repeats": args.repeats, "seconds": args.seconds, "threads": args.threads, "sections": only},
               "machine": machine_info(args.threads), "load_before": [round(x, 2) for x in os.getloadavg()], "notes": []}
    log(f"machine: {results['machine'].get('cpu', 'unknown CPU')}, {os.cpu_count()} cores; {results['machine']['onednn']}")
    t0 = time.perf_counter()
    _run_sections(args, only, results, log)
    results["load_after"] = [round(x, 2) for x in os.getloadavg()]
    results["total_s"] = time.perf_counter() - t0
    if results["load_before"][0] > 0.5 * (os.cpu_count() or 1):  # the load after includes this benchmark's own workers
        results["notes"].append(f"other processes were busy when the benchmark started (1-minute load {results['load_before'][0]} on "
                                f"{os.cpu_count()} cores): absolute numbers are low and noisy; the ratios come from interleaved rounds of the same run")
    json_path, md_path = write(results, args.out)
    log(f"wrote {json_path} and {md_path} ({results['total_s']:.0f}s)")
    print(to_markdown(results))
    return 0
