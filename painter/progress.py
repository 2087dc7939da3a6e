"""One progress bar for long work (generating, painting, scoring, training): tqdm's.

On a terminal it is a live bar redrawn in place. Anywhere else (a log file, a pipe,
Kaggle's kernel output) it writes whole lines, about `log_lines` of them over the whole
count, so that logs stay short. It writes to stderr by default: stdout stays clean for
results (`--json`).
"""

from __future__ import annotations

import math
import sys
from typing import Mapping, TextIO

# The counter first, so that a log line reads "features (generated) 8/8 images (100%) …".
_TIMES = "[{elapsed}<{remaining}, {rate_fmt}{postfix}]"
_LOG_FORMAT = "{desc} {n_fmt}/{total_fmt}{unit} ({percentage:.0f}%) " + _TIMES
_BAR_FORMAT = "{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt}{unit} " + _TIMES


class ProgressBar:
    """A count towards a total, shown by tqdm; `update` takes the count done so far.

    Made by `progress_bar`. Use it as a context manager, or call `close()` at the end.
    """

    def __init__(self, bar, on_terminal: bool):
        self._bar = bar
        self._on_terminal = on_terminal

    @property
    def done(self) -> int:
        """The count shown so far."""
        return self._bar.n

    def update(self, done: int, values: Mapping[str, float] | None = None) -> None:
        """Sets the count done so far (not an increment) and redraws when due.

        Args:
            done: units done since the start.
            values: numbers shown after the counter, e.g. a training step's losses.
                Default None: none (those shown before stay).
        """
        if values:
            self._bar.set_postfix({k: _short(v) for k, v in values.items()}, refresh=False)
        step = int(done) - self._bar.n
        if step > 0:
            self._bar.update(step)

    def close(self) -> None:
        """Ends the bar; the final count and rate stay on screen, or in the log."""
        if self._bar.disable:
            return
        if not self._on_terminal and self._bar.n != self._bar.last_print_n:
            self._bar.refresh()  # the last line of a log says where the count ended
        self._bar.close()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _short(value) -> str:
    try:
        return f"{float(value):.4g}"
    except (TypeError, ValueError):
        return str(value)


class _WholeLines:
    """tqdm redraws with a carriage return; a log gets each redraw as a line of its own."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def write(self, text: str) -> None:
        line = text.strip("\r\n").rstrip()
        if line:
            self.stream.write(line + "\n")

    def flush(self) -> None:
        self.stream.flush()


def progress_bar(
    total: int,
    label: str,
    *,
    unit: str = "images",
    stream: TextIO | None = None,
    log_lines: int = 10,
) -> ProgressBar:
    """A progress bar for `total` units of work.

    Args:
        total: the units expected.
        label: what is being done, shown first.
        unit: what is counted. Default "images".
        stream: where to write. Default None: sys.stderr at call time.
        log_lines: lines written over the whole count when `stream` is not a terminal
            (about one per `total / log_lines` units, plus the last). Default 10; 0 for
            silence off a terminal (training, whose epoch lines say enough).

    Returns:
        A `ProgressBar`: `update(done, values=None)`, `close()`, a context manager.
    """
    from tqdm import tqdm

    if not isinstance(log_lines, int) or log_lines < 0:
        raise ValueError(f"`log_lines` must be an int >= 0. Received: log_lines={log_lines!r}")
    stream = sys.stderr if stream is None else stream
    on_terminal = bool(getattr(stream, "isatty", lambda: False)())
    total = max(int(total), 0)
    common = dict(total=total, desc=label, unit=f" {unit}", unit_scale=False)
    if on_terminal:
        bar = tqdm(file=stream, bar_format=_BAR_FORMAT, dynamic_ncols=True, mininterval=0.5,
                   leave=True, **common)
    else:
        # A line every `total / log_lines` units and at the end, never on a timer.
        bar = tqdm(file=_WholeLines(stream), bar_format=_LOG_FORMAT, disable=log_lines == 0,
                   miniters=max(1, math.ceil(total / max(log_lines, 1))), mininterval=0,
                   maxinterval=math.inf, leave=False, **common)
    return ProgressBar(bar, on_terminal)
