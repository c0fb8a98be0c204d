"""Benchmark tfcharrnn against its peers on this machine: python scripts/bench.py --help (--quick: a smoke run in seconds)

The benchmark is the package benchmarks/ beside this folder (not installed with tfcharrnn); its
command line is benchmarks/command.py.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from benchmarks.command import main  # noqa: E402
from tfcharrnn.errors import run_cli  # noqa: E402

if __name__ == "__main__":
    run_cli(main)
