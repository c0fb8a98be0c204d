"""scripts/bench.py: run the benchmark's sections and write bench.json and bench.md.

    python scripts/bench.py --help
    from tfcharrnn.cli.bench import main; main(["--quick", "--out", "/tmp/bench"])

The benchmark itself is the package tfcharrnn.bench; its flags are declared in tfcharrnn.cli.flags.
"""

from __future__ import annotations

import datetime
import os
import sys
import tempfile
import time

from tfcharrnn.bench.litert import run_quantization
from tfcharrnn.bench.prep import run_prep
from tfcharrnn.bench.quality import run_quality
from tfcharrnn.bench.report import machine_info, to_markdown, write
from tfcharrnn.bench.sections import SECTIONS, run_generate, run_peak, run_train
from tfcharrnn.bench.web import run_web
from tfcharrnn.cli.flags import bench_parser

RUNNERS = {"peak": run_peak, "train": run_train, "generate": run_generate, "prep": run_prep, "quality": run_quality, "web": run_web,
           "quantization": run_quantization}
ORDER = ("peak", "train", "generate", "prep", "quality", "quantization", "web")  # peak first: the training table needs it


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
    args.tmp_dir = args.tmp_dir or tempfile.gettempdir()
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
