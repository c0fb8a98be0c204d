"""Sweep hyperparameters: python scripts/sweep.py --help (flags: docs/flags.md; front end: tfcharrnn/cli/sweep.py)

    python scripts/sweep.py --train_data input.txt --hidden_size 128,256 --time_budget 5
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tfcharrnn.cli.sweep import main  # noqa: E402
from tfcharrnn.errors import run_cli  # noqa: E402

if __name__ == "__main__":
    run_cli(main)
