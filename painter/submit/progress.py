"""A one-line progress bar with a rate, on stderr (stdout stays clean for `--json`)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Shows `label done/total unit (pct) rate unit/s eta`.

    On a terminal the line is redrawn at most every `interval` seconds; elsewhere (logs,
    Kaggle's output) a line is printed at every tenth of the total, so logs stay short.

    Args:
        total: the number of units expected.
        label: what is being done. Default "generate".
        unit: what is counted. Default "images".
        stream: where to write. Default sys.stderr.
        interval: seconds between redraws on a terminal. Default 0.5.
    """

    def __init__(
        self,
        total: int,
        label: str = "generate",
        unit: str = "images",
        stream: TextIO | None = None,
        interval: float = 0.5,
    ):
        self.total = max(int(total), 1)
        self.label = label
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self.start = time.perf_counter()
        self.done = 0
        self._last_draw = 0.0
        self._last_tenth = -1
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    @property
    def rate(self) -> float:
        """Units per second since the start."""
        elapsed = time.perf_counter() - self.start
        return self.done / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        rate = self.rate
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        eta_text = f"eta {eta:.0f}s" if eta == eta else "eta ?"
        return (
            f"{self.label} {self.done:,}/{self.total:,} {self.unit} "
            f"({100 * self.done / self.total:.0f}%) {rate:.1f} {self.unit}/s {eta_text}"
        )

    def update(self, done: int) -> None:
        """Sets the number of units done so far and redraws when due."""
        self.done = min(int(done), self.total)
        now = time.perf_counter()
        if self._tty:
            if now - self._last_draw >= self.interval or self.done == self.total:
                self._last_draw = now
                self.stream.write("\r" + self.line() + "\033[K")
                self.stream.flush()
            return
        tenth = 10 * self.done // self.total
        if tenth != self._last_tenth and (tenth > 0 or self._last_tenth < 0):
            self._last_tenth = tenth
            self.stream.write(self.line() + "\n")
            self.stream.flush()

    def close(self) -> None:
        """Ends the line; the final rate stays on screen."""
        if self._tty:
            self.stream.write("\r" + self.line() + "\033[K\n")
            self.stream.flush()
        elif 10 * self.done // self.total != self._last_tenth:
            self.stream.write(self.line() + "\n")
            self.stream.flush()
