"""A plain progress bar on stderr for long CLI work."""
from __future__ import annotations

import sys
import time


class ProgressBar:
    def __init__(self, total: int, label: str = "", stream=None, width: int = 30):
        self.total, self.label, self.width = max(total, 1), label, width
        self.stream = stream or sys.stderr
        self.start = time.monotonic()
        self.done = 0

    def update(self, done: int, extra: str = "") -> None:
        self.done = done
        frac = min(done / self.total, 1.0)
        elapsed = time.monotonic() - self.start
        eta = elapsed / frac - elapsed if frac > 0 else 0.0
        bar = "#" * int(frac * self.width)
        self.stream.write(
            f"\r{self.label} [{bar:<{self.width}}] {done}/{self.total} {elapsed:5.0f}s eta {eta:4.0f}s {extra}"
        )
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


class BarOnFirstCall:
    """The progress(done, total) an engine function reports to: a ProgressBar shown from its first call on (a
    function with nothing to report leaves stderr alone)."""

    def __init__(self, label: str):
        self.label = label
        self.bar: ProgressBar | None = None

    def __call__(self, done: int, total: int) -> None:
        self.bar = self.bar or ProgressBar(total, self.label)
        self.bar.update(done)

    def close(self) -> None:
        if self.bar:
            self.bar.close()
