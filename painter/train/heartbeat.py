"""`RUN_DIR/heartbeat.json`: a training run's sign of life, for a watchdog.

    {"time": 1764675000.123, "epoch": 3, "step": 120, "global_step": 1320}

`time` is when it was written (Unix seconds); `epoch` the epochs completed and `step` the
steps done into the next one (as a checkpoint's manifest counts them); `global_step` the
optimizer steps since the run began. `train` writes it when training starts, after the
first step, then after steps at most every `every` seconds, and around each epoch's end
(samples, MiFID tracking, checkpoint). A watchdog (the Kaggle kernel's) reads an old
`time` as a hang and a recent one as a slow step. Each write goes to a temporary file that
is renamed over the last, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Callable

from painter.io import atomic_path
from painter.rundir import HEARTBEAT_JSON


class Heartbeat:
    """Writes `heartbeat.json` into a run directory, at most once every `every` seconds.

    Args:
        run_dir: the run directory.
        every: the shortest time between two writes, in seconds (`force` writes anyway).
            Default 5.
        clock: the monotonic clock the throttle uses. Default `time.monotonic`.
    """

    def __init__(self, run_dir: str | os.PathLike, every: float = 5.0,
                 clock: Callable[[], float] = time.monotonic):
        self.path = Path(run_dir) / HEARTBEAT_JSON
        self.every = every
        self.clock = clock
        self._last = -math.inf

    def due(self) -> bool:
        """Whether a write now would not be throttled."""
        return self.clock() - self._last >= self.every

    def beat(self, epoch: int, step: int, global_step: int, force: bool = False) -> bool:
        """Writes the file unless the last write is under `every` seconds old (or `force`).
        Returns whether it wrote."""
        if not force and not self.due():
            return False
        self._last = self.clock()
        record = {"time": round(time.time(), 3), "epoch": int(epoch), "step": int(step),
                  "global_step": int(global_step)}
        with atomic_path(self.path, force=True) as temp:
            temp.write_text(json.dumps(record) + "\n")
        return True


def read_heartbeat(run_dir: str | os.PathLike) -> dict | None:
    """The last heartbeat of a run (`time`, `epoch`, `step`, `global_step`), or None when
    there is none or it cannot be read."""
    try:
        record = json.loads((Path(run_dir) / HEARTBEAT_JSON).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None
