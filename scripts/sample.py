"""Generate text: python scripts/sample.py --help (flags: docs/flags.md; front end: tfcharrnn/cli/sample.py)

    python scripts/sample.py cv/ --length 500 --temperature 0.8 --prime "ROMEO:"
    python scripts/sample.py shakespeare.tflite --prime "ROMEO:"     # LiteRT, no TensorFlow needed
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tfcharrnn.cli.sample import main  # noqa: E402
from tfcharrnn.errors import run_cli  # noqa: E402

if __name__ == "__main__":
    run_cli(main)
