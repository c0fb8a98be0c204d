"""The benchmark's command line; scripts/bench.py calls ``main``.

    python scripts/bench.py --help
    from tfcharrnn.bench.command import main; main(["--quick", "--out", "/tmp/bench"])

Nothing in tfcharrnn imports this module: it is the front end of the package.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
import time

import tfcharrnn.bench as bench
from tfcharrnn.bench.prep import run_prep
from tfcharrnn.bench.quality import run_quality
from tfcharrnn.bench.report import machine_info, to_markdown, write
from tfcharrnn.bench.sections import run_generate, run_peak, run_train
from tfcharrnn.bench.train_peers import FULL_TRAIN, TRAIN_PEERS

SECTIONS = ("train", "peak", "generate", "prep", "quality")
DEFAULT_SECTIONS = ("train", "peak", "generate", "prep")  # quality trains for minutes per peer: asked for by name
RUNNERS = {"peak": run_peak, "train": run_train, "generate": run_generate, "prep": run_prep, "quality": run_quality}
ORDER = ("peak", "train", "generate", "prep", "quality")  # peak first: the training table needs it


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="bench.py", description=bench.__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny sizes and short rounds: a smoke test in seconds")
    ap.add_argument("--only", default=",".join(DEFAULT_SECTIONS),
                    help=f"comma-separated sections: {', '.join(SECTIONS)} (default: all but quality)")
    ap.add_argument("--out", default="bench_results", help="directory for bench.json and bench.md")
    ap.add_argument("--repeats", type=int, default=None, help="interleaved rounds per peer (default 5; --quick 2)")
    ap.add_argument("--seconds", type=float, default=None, help="seconds per training round (default 3; --quick 0.2)")
    ap.add_argument("--threads", type=int, default=0, help="intra/inter-op threads for every peer (TF and torch); 0 = library defaults")
    ap.add_argument("--train-peers", default="tfcharrnn,tfcharrnn-layergroups,tfcharrnn-1group,tfcharrnn-jit,tfcharrnn-bf16,tfcharrnn-keras,keras-fit,torch",
                    help=f"training peers, comma separated (known: {', '.join(TRAIN_PEERS)})")
    ap.add_argument("--configs", default="", help=f"training configs, comma separated (default all: {', '.join(FULL_TRAIN)})")
    ap.add_argument("--tmp-dir", default=tempfile.gettempdir(), help="where the 100 MB corpus and its cache go (not the repo)")
    ap.add_argument("--quality-minutes", type=float, default=None, help="quality: minutes of training per peer (default 3; --quick 0.05)")
    ap.add_argument("--quality-torch-batch", type=int, default=64, help="quality: the PyTorch LSTM's batch size")
    return ap


def _run_sections(args, only, results, log):
    for section in ORDER:
        if section in only:
            try:
                RUNNERS[section](args, results, results["notes"], log)
            except Exception as e:  # one broken section must not lose the others
                results["notes"].append(f"section {section} failed: {type(e).__name__}: {str(e)[:500]}")
                log(f"section {section} failed: {e}")


def main(argv=None):
    ap = build_parser()
    args = ap.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        ap.error(f"unknown section(s) {unknown}; known: {', '.join(SECTIONS)}")
    args.repeats = args.repeats or (2 if args.quick else 5)
    args.seconds = args.seconds if args.seconds is not None else (0.2 if args.quick else 3.0)
    os.makedirs(args.out, exist_ok=True)
    args.log_dir = os.path.join(args.out, "logs")
    os.makedirs(args.log_dir, exist_ok=True)

    def log(msg):
        print(msg, flush=True)

    results = {"started": datetime.datetime.now().isoformat(timespec="seconds"), "command": " ".join(["python", "scripts/bench.py"] + (argv if argv is not None else sys.argv[1:])),
               "settings": {"quick": args.quick, "repeats": args.repeats, "seconds": args.seconds, "threads": args.threads, "sections": only},
               "machine": machine_info(args.threads), "load_before": [round(x, 2) for x in os.getloadavg()], "notes": []}
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
