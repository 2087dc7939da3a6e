"""Time budgets: parsing "4h30m", and deciding when to stop so the run ends in time.

Kaggle stops a kernel at its time limit and keeps only what is on disk, so a run with a
budget must stop early enough to write its final checkpoint. `Deadline` keeps running
estimates of a step and of the work after it (epoch end, checkpoint) and says "stop"
before a step that might not leave room for them. It also projects how many whole epochs
still fit (`epochs_that_fit`), so a run can fit its learning-rate schedule to the budget
instead of being cut in the middle of it.
"""

from __future__ import annotations

import math
import re
import time

from painter.errors import UsageError

_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}
_PART = re.compile(r"(\d+(?:\.\d+)?|\.\d+)\s*([hms])")


def parse_duration(text: str | float | int) -> float:
    """Seconds in a duration such as "4h30m", "90m", "3600s", "1.5h", "1h 5m 30s" or a bare
    number of seconds ("3600").

    Raises:
        UsageError: anything else, or a duration that is not > 0.
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        raw = str(text).strip().lower()
        try:
            seconds = float(raw)
        except ValueError:
            compact = raw.replace(" ", "")
            parts = _PART.findall(compact)
            units = [unit for _, unit in parts]
            if (
                not parts
                or "".join(number + unit for number, unit in parts) != compact
                or len(set(units)) != len(units)
                or units != sorted(units, key="hms".index)
            ):
                raise UsageError(
                    f"time budget {text!r}: expected a duration like 4h30m, 90m, 3600s or 1.5h"
                ) from None
            seconds = sum(float(number) * _UNITS[unit] for number, unit in parts)
    if not math.isfinite(seconds) or seconds <= 0:
        raise UsageError(f"time budget {text!r}: must be more than 0 seconds")
    return seconds


def format_duration(seconds: float) -> str:
    """3725 → "1h02m05s"; 42.5 → "42.5s"."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


class Deadline:
    """When to stop a run that must end within `budget` seconds of `start`.

    The estimates are the slowest recent step (the first, which traces and compiles, is
    forgotten once later ones are timed), and the slowest epoch end and checkpoint seen,
    with a first guess for the checkpoint before any was written. A margin of 2% of the
    budget (at least 5 s, at most 2 min) covers the unmeasured.

    Args:
        budget: seconds, or None for no limit.
        start: the `time.monotonic()` the budget counts from. Defaults to now.
    """

    def __init__(self, budget: float | None, start: float | None = None):
        self.budget = budget
        self.start = time.monotonic() if start is None else start
        self.margin = 0.0 if budget is None else min(max(0.02 * budget, 5.0), 120.0)
        self._steps: list[float] = []
        self._first_step: float | None = None
        self.checkpoint_seconds = 5.0  # a guess until one is timed
        self._checkpoint_timed = False
        self.epoch_end_seconds = 0.0  # the slowest epoch end
        self._epoch_ends: list[float] = []

    def left(self) -> float:
        """Seconds left (inf without a budget)."""
        if self.budget is None:
            return math.inf
        return self.budget - (time.monotonic() - self.start)

    def step_seconds(self) -> float:
        if self._steps:
            return max(self._steps[-5:])
        return self._first_step or 0.0

    def record_step(self, seconds: float) -> None:
        if self._first_step is None:
            self._first_step = seconds
        else:
            self._steps.append(seconds)

    def record_checkpoint(self, seconds: float) -> None:
        self.checkpoint_seconds = (
            max(self.checkpoint_seconds, seconds) if self._checkpoint_timed else seconds
        )
        self._checkpoint_timed = True

    def record_epoch_end(self, seconds: float) -> None:
        self.epoch_end_seconds = max(self.epoch_end_seconds, seconds)
        self._epoch_ends.append(seconds)

    def mean_step_seconds(self) -> float:
        """The mean of the last 100 timed steps (the first, tracing, once others exist): a
        steadier figure for whole epochs than `step_seconds`, which guards one step."""
        recent = self._steps[-100:]
        return sum(recent) / len(recent) if recent else (self._first_step or 0.0)

    def epoch_seconds(self, steps_per_epoch: int) -> float:
        """What one more epoch is estimated to cost: its steps at the mean recent step, the
        mean epoch end (samples, callbacks such as MiFID tracking every k epochs) and the
        slowest checkpoint."""
        mean_end = sum(self._epoch_ends) / len(self._epoch_ends) if self._epoch_ends else 0.0
        return steps_per_epoch * self.mean_step_seconds() + mean_end + self.checkpoint_seconds

    def epochs_that_fit(self, steps_per_epoch: int, pending: float = 0.0) -> int | None:
        """Whole epochs of `steps_per_epoch` steps that still fit in the budget (None
        without one): each at `epoch_seconds`, after `pending` seconds of work already due
        (the checkpoint of an epoch that just ended), with the margin and, once, the
        slowest epoch end's excess over the mean (the last epoch's tracking is always
        done) kept free."""
        if self.budget is None:
            return None
        per_epoch = self.epoch_seconds(steps_per_epoch)
        mean_end = sum(self._epoch_ends) / len(self._epoch_ends) if self._epoch_ends else 0.0
        room = self.left() - pending - self.margin - (self.epoch_end_seconds - mean_end)
        if per_epoch <= 0:
            return 0 if room <= 0 else 10**9  # nothing measured costs anything: no limit
        return max(0, math.floor(room / per_epoch))

    def should_stop(self, last_step_of_epoch: bool) -> bool:
        """True when another step, and what must follow it, might not fit in the budget."""
        if self.budget is None:
            return False
        needed = self.step_seconds() + self.checkpoint_seconds + self.margin
        if last_step_of_epoch:
            needed += self.epoch_end_seconds
        return self.left() < needed
