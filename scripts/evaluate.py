"""Score a model on a text file: python scripts/evaluate.py --help (flags: docs/flags.md; front end: tfcharrnn/cli/evaluate.py)

    python scripts/evaluate.py CHECKPOINT_OR_SAVEDMODEL FILE [--json]
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tfcharrnn.cli.evaluate import main  # noqa: E402
from tfcharrnn.errors import run_cli  # noqa: E402

if __name__ == "__main__":
    run_cli(main)
