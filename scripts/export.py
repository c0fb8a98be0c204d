"""Export a checkpoint for TensorFlow Serving (and LiteRT): python scripts/export.py --help

    python scripts/export.py cv/ --name shakespeare                # -> saved_models/shakespeare/1/
    python scripts/export.py cv/ --name shakespeare --version 3 --overwrite
    docker run -p 8501:8501 -p 8500:8500 -v "$PWD/saved_models/shakespeare:/models/shakespeare" \\
        -e MODEL_NAME=shakespeare tensorflow/serving:2.21.0

Flags: docs/flags.md; the front end is tfcharrnn/cli/export.py, the work tfcharrnn.export;
docs/serving.md has the requests.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tfcharrnn.cli.export import main  # noqa: E402
from tfcharrnn.errors import run_cli  # noqa: E402

if __name__ == "__main__":
    run_cli(main)
