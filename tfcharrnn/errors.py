"""One kind of error for bad input, and the wrapper that turns it into a one-line message.

    from tfcharrnn.errors import UserError, run_cli
    def main(argv=None): ...            # raises UserError("problem; fix")
    if __name__ == "__main__":
        run_cli(main)                   # prints "error: problem; fix", exits 2, no traceback
"""

from __future__ import annotations

import os
import sys

from tfcharrnn.tflogs import filter_tf_logs


class UserError(Exception):
    """Bad input from the user: the message names the problem and the fix."""

    exit_code = 2


class RunFailed(UserError):
    """The run cannot go on (a lost worker, a diverged loss): the message says how to resume."""

    exit_code = 1


def run_cli(main, argv=None) -> None:
    """Run ``main(argv)``; a UserError becomes one line on stderr and exit status 2. TensorFlow's
    start-up log lines are kept off stderr meanwhile (tfcharrnn.tflogs)."""
    with filter_tf_logs():
        code = _run(main, argv)
    sys.exit(code)


def _run(main, argv):
    try:
        code = main(argv)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as e:
        # Disk full, permission denied and the like: the user can act on these.
        if os.environ.get("TFCHARRNN_DEBUG"):
            raise
        name = f" {e.filename!r}" if getattr(e, "filename", None) else ""
        print(f"error: {e.strerror or e}{name}; check the path, permissions and free disk space", file=sys.stderr)
        return 1
    return code or 0
