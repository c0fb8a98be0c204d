"""Keep TensorFlow's C++ start-up log lines off a command-line tool's stderr.

    from tfcharrnn.tflogs import filter_tf_logs
    with filter_tf_logs():          # TFCHARRNN_TF_LOGS=1 turns it off: every line shows
        main()

TensorFlow's C++ start-up logging ("oneDNN custom operations are on", "Could not find cuda
drivers", ...) ignores TF_CPP_MIN_LOG_LEVEL before absl is initialised and buries our own
messages. Inside the block, file descriptor 2 is a pipe read by a thread that passes every line
on to the real stderr except those. tfcharrnn.errors.run_cli wraps every tool in it.

A crash inside native code (a segmentation fault) kills that thread with the process, so whatever
the pipe still holds is lost: Python's fault handler writes each thread's stack straight to the
real stderr instead, so that such a crash always says where it happened.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import re
import sys
import threading

TF_LOG_LINE = re.compile(rb"^(WARNING: All log messages before absl|[IWE]\d{4} [\d:.]+ +\d+ \S+:\d+\]|INFO: Created TensorFlow Lite XNNPACK delegate"
                         rb"|To enable the following instructions|This TensorFlow binary is optimized)")
SHOW_ALL = "TFCHARRNN_TF_LOGS"


@contextlib.contextmanager
def filter_tf_logs():
    """stderr without TensorFlow's log lines inside the block (unless $TFCHARRNN_TF_LOGS is set)."""
    if os.environ.get(SHOW_ALL):
        faulthandler.enable(all_threads=True)
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    thread = threading.Thread(target=_pump, args=(read_end, saved), daemon=True)
    thread.start()
    faulthandler.enable(file=saved, all_threads=True)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last write end: the pump drains and stops
        thread.join(timeout=5)
        faulthandler.enable(file=2, all_threads=True)  # saved closes next; a crash on the way out still tells
        os.close(saved)


def _pump(read_end: int, out: int) -> None:
    """Copy lines from read_end to out, dropping TensorFlow's, until the pipe closes."""
    with os.fdopen(read_end, "rb", buffering=0) as pipe:
        pending = b""
        while True:
            chunk = pipe.read(65536)
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            kept = b"".join(line + b"\n" for line in lines if not TF_LOG_LINE.match(line))
            if kept:
                os.write(out, kept)
        if pending and not TF_LOG_LINE.match(pending):
            os.write(out, pending)
