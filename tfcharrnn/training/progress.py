"""The training loop's clock and progress line.

    clock = Clock(elapsed_s=0.0, step=0, chars_per_step=32 * 100)
    clock.smooth(loss); clock.steps_per_second(step); progress_bar(0.25)   # '[#####---------------]'
"""

from __future__ import annotations

import time


class Clock:
    """The loop's time and rate: elapsed training time (summed over resumed runs), the smoothed
    loss and the steps per second since the last progress line."""

    def __init__(self, elapsed_s: float, step: int, chars_per_step: int):
        self.chars_per_step = chars_per_step
        self.start = time.time() - elapsed_s
        self.smoothed = None
        self.last_report = (time.time(), step)

    def elapsed(self) -> float:
        return time.time() - self.start

    def smooth(self, loss: float) -> float:
        self.smoothed = loss if self.smoothed is None else 0.95 * self.smoothed + 0.05 * loss
        return self.smoothed

    def steps_per_second(self, step: int) -> float:
        """Steps per second since the last call (or the start)."""
        now = time.time()
        rate = (step - self.last_report[1]) / max(now - self.last_report[0], 1e-9)
        self.last_report = (now, step)
        return rate


def progress_bar(fraction: float, width: int = 20) -> str:
    filled = int(round(max(0.0, min(1.0, fraction)) * width))
    return "[" + "#" * filled + "-" * (width - filled) + "]"
