"""Thin front end over tfcharrnn.bench: python scripts/bench.py --help (--quick: a smoke run in seconds)"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tfcharrnn.cli.bench import main  # noqa: E402
from tfcharrnn.errors import run_cli  # noqa: E402

if __name__ == "__main__":
    run_cli(main)
