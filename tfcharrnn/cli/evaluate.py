"""Per-character loss of a model on a text file, from the command line.

    python scripts/evaluate.py cv/ held_out.txt                      # a table: nats/char, bits/char, perplexity
    python scripts/evaluate.py saved_models/shakespeare a.txt --json
    python scripts/evaluate.py cv/ big.txt --rows 8 --encoding latin-1

Flags: tfcharrnn/cli/flags.py (docs/flags.md); the work and what is measured: tfcharrnn.evaluate.
"""

from __future__ import annotations

import json
import os

from tfcharrnn import onednn
from tfcharrnn.cli.flags import evaluate_parser
from tfcharrnn.errors import UserError, run_cli


def main(argv=None) -> int:
    args = evaluate_parser().parse_args(argv)
    onednn.apply()  # before TensorFlow's import
    from tfcharrnn.evaluate import evaluate_file, format_table
    from tfcharrnn.training import configure_devices

    if not os.path.exists(args.file):  # before loading any model
        raise UserError(f"text file {args.file!r} does not exist; check the path")
    configure_devices(cpu=args.cpu)
    result = evaluate_file(args.model, args.file, encoding=args.encoding, rows=args.rows, chunk_length=args.chunk_length)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=1))
    else:
        print(format_table(result))
    return 0


def entry():
    run_cli(main)


if __name__ == "__main__":  # pragma: no cover - python -m tfcharrnn.cli.evaluate MODEL FILE
    entry()
