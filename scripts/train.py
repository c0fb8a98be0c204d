"""Train a model: python scripts/train.py --help (flags: docs/flags.md; front end: tfcharrnn/cli/train.py)

    python scripts/train.py --train_data input.txt --hidden_size 256 --num_layers 2
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tfcharrnn.cli.train import main  # noqa: E402
from tfcharrnn.errors import run_cli  # noqa: E402

if __name__ == "__main__":
    run_cli(main)
