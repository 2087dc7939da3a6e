"""Reading a run directory into a `RunRecord`: what the report shows, nothing drawn.

Tolerates whatever a run still in progress (or a crashed one) leaves: no samples yet,
a half-written history line, a checkpoint being written. Reads the checkpoints'
manifest.json directly, and history.csv through `painter.train.history`, so that a
report needs no TensorFlow.
"""

from __future__ import annotations

import dataclasses
import datetime
import io
import json
import re
import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from painter.errors import DataError, UsageError
from painter.families import FAMILIES
from painter.rundir import (CHECKPOINTS_DIR, CONFIG_TOML, HISTORY_CSV, PAINTINGS_PNG,
                            RECORD_TABLES, SAMPLES_DIR, read_restart, read_run_record)
from painter.train.history import History, read_history

SAMPLE_PATTERN = re.compile(r"^epoch_(\d+)\.(png|jpe?g)$", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class ConfigRow:
    """One key of the resolved config; `default` is None when the family is unknown."""

    key: str
    value: Any
    default: Any
    changed: bool



@dataclasses.dataclass(frozen=True)
class SampleGrid:
    """One samples/epoch_NNN image; `data` is None (and `problem` says why) if unreadable."""

    epoch: int
    path: Path
    mime: str
    data: bytes | None
    width: int
    height: int
    problem: str = ""


@dataclasses.dataclass(frozen=True)
class CheckpointEntry:
    """A file or folder under checkpoints/ (size summed over a folder's files).

    `epoch`, `global_step`, `step_in_epoch`, `metrics` and `generator_weights` ("ema"
    when generation uses the generator's moving average, else "raw") come from the
    folder's manifest.json (painter's checkpoint format); None / {} when it has none.
    """

    name: str
    size_bytes: int
    modified: datetime.datetime
    is_dir: bool
    epoch: int | None = None
    global_step: int | None = None
    step_in_epoch: int | None = None
    metrics: dict = dataclasses.field(default_factory=dict)
    generator_weights: str | None = None


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """Everything the report shows, read from one run directory."""

    run_dir: Path
    name: str
    family: str
    config: tuple[ConfigRow, ...]
    history: History
    samples: tuple[SampleGrid, ...]
    checkpoints: tuple[CheckpointEntry, ...]
    started: datetime.datetime | None
    updated: datetime.datetime | None
    warnings: tuple[str, ...]
    # A restarted run's parent: config.toml's [restart] table (`painter.rundir.read_restart`).
    parent: dict | None = None
    # How it trains: config.toml's [run] table, backend and devices (`read_run_record`).
    trained_on: dict | None = None

    def config_value(self, key: str, default: Any = None) -> Any:
        for row in self.config:
            if row.key == key:
                return row.value
        return default


def _same_value(value, default) -> bool:
    """Whether a TOML value equals a dataclass default (TOML reads a tuple back as a list)."""
    if isinstance(value, list) and isinstance(default, tuple):
        return tuple(value) == default
    return value == default


def read_config(path: Path) -> tuple[str, tuple[ConfigRow, ...]]:
    """Reads a run's config.toml → (family, rows).

    A key is "changed" if the file marks it `# changed` or its value differs from the
    family's dataclass default (a hand-edited file may lack the marks).

    Raises:
        DataError: the file is not valid TOML (names the file).
    """
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise DataError(f"{path}: invalid TOML: {e}") from None
    marked = {
        m.group(1)
        for m in re.finditer(r"^\s*([A-Za-z_][\w-]*)\s*=.*#\s*changed\s*$", text, re.MULTILINE)
    }
    family = str(values.get("family", "cyclegan"))
    cls = FAMILIES[family].config_class if family in FAMILIES else None
    defaults = {f.name: f.default for f in dataclasses.fields(cls)} if cls else {}
    rows = []
    for key, value in values.items():
        if key in RECORD_TABLES and isinstance(value, dict):
            continue  # records of the run, not settings (`RunRecord.parent`, `.trained_on`)
        default = defaults.get(key)
        changed = key in marked or (key in defaults and not _same_value(value, default))
        rows.append(ConfigRow(key, value, default, changed))
    return family, tuple(rows)


def read_image(path: Path, epoch: int = 0) -> SampleGrid:
    """An image to inline: its bytes, type and size, or why it cannot be shown."""
    from PIL import Image  # a runtime dependency; imported here to keep `import` light

    data = path.read_bytes()
    try:  # decode the very bytes that get inlined, in case the trainer rewrites the file
        with Image.open(io.BytesIO(data)) as image:
            image.load()  # decodes fully: a truncated PNG fails here, not in the browser
            fmt, (width, height) = image.format, image.size
    except Exception as e:  # PIL raises many types for bad files
        problem = f"{type(e).__name__}: {e}".splitlines()[0]
        return SampleGrid(epoch, path, "", None, 0, 0, problem)
    mime = {"PNG": "image/png", "JPEG": "image/jpeg"}.get(fmt or "")
    if mime is None:
        return SampleGrid(epoch, path, "", None, 0, 0, f"unsupported format {fmt}")
    return SampleGrid(epoch, path, mime, data, width, height)


def read_samples(samples_dir: Path) -> tuple[SampleGrid, ...]:
    """The samples/epoch_NNN.{png,jpg} grids, newest epoch first."""
    if not samples_dir.is_dir():
        return ()
    found = []
    for path in samples_dir.iterdir():
        match = SAMPLE_PATTERN.match(path.name)
        if match and path.is_file():
            found.append((int(match.group(1)), path))
    return tuple(read_image(path, epoch) for epoch, path in sorted(found, reverse=True))


def _read_manifest(folder: Path) -> dict:
    """A checkpoint's manifest.json, or {} — the report lists what it cannot read."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_checkpoints(checkpoints_dir: Path) -> tuple[CheckpointEntry, ...]:
    """Entries of checkpoints/ (not hidden or temporary ones), latest step first.

    Reads manifest.json directly rather than through `painter.train.checkpoints`, which
    loads networks with Keras.
    """
    if not checkpoints_dir.is_dir():
        return ()
    entries = []
    for path in checkpoints_dir.iterdir():
        if path.name.startswith(".") or path.name.endswith(".tmp"):
            continue  # half-written by an atomic write in progress
        try:
            files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
            size = sum(p.stat().st_size for p in files)
            modified = datetime.datetime.fromtimestamp(path.stat().st_mtime)
        except FileNotFoundError:  # rotated away by a live run while we looked
            continue
        manifest = _read_manifest(path) if path.is_dir() else {}
        metrics = manifest.get("metrics")
        entries.append(CheckpointEntry(
            path.name, size, modified, path.is_dir(),
            epoch=_int_or_none(manifest.get("epoch")),
            global_step=_int_or_none(manifest.get("global_step")),
            step_in_epoch=_int_or_none(manifest.get("step_in_epoch")),
            metrics=metrics if isinstance(metrics, dict) else {},
            generator_weights=(manifest.get("generator_weights", "raw") if manifest else None),
        ))
    return tuple(sorted(entries, key=lambda e: (e.global_step or -1, e.modified, e.name),
                        reverse=True))


def read_run(run_dir: str | Path) -> RunRecord:
    """Reads a run directory written by `painter train`.

    Args:
        run_dir: the run directory; it must hold config.toml. Everything else is optional.

    Raises:
        UsageError: `run_dir` is missing or is not a run (no config.toml).
        DataError: config.toml is not valid TOML.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UsageError(f"{run_dir}: no such run directory")
    config_path = run_dir / CONFIG_TOML
    if not config_path.is_file():
        raise UsageError(f"{run_dir}: not a run directory (no {CONFIG_TOML})")
    family, config = read_config(config_path)
    history = History.from_rows(read_history(run_dir / HISTORY_CSV))
    warnings = list(history.warnings)
    samples = read_samples(run_dir / SAMPLES_DIR)
    warnings += [f"{s.path.relative_to(run_dir)}: unreadable ({s.problem})"
                 for s in samples if s.data is None]
    history_path = run_dir / HISTORY_CSV
    last_write = history_path if history_path.is_file() else config_path
    return RunRecord(
        run_dir=run_dir,
        name=run_dir.resolve().name,
        family=family,
        config=config,
        history=history,
        samples=samples,
        checkpoints=read_checkpoints(run_dir / CHECKPOINTS_DIR),
        started=datetime.datetime.fromtimestamp(config_path.stat().st_mtime),
        updated=datetime.datetime.fromtimestamp(last_write.stat().st_mtime),
        warnings=tuple(warnings),
        parent=read_restart(run_dir),
        trained_on=read_run_record(run_dir),
    )


# ---- charts -------------------------------------------------------------------------

