"""The run directory: what `painter train` writes, and how everything else reads it.

    RUN_DIR/
        config.toml              the resolved config, non-defaults marked; then a
                                 [run] table of how the run trains (its Keras backend
                                 and device count: `read_run_record`), and for a run
                                 restarted from another's checkpoint a [restart] table
                                 naming the parent (`read_restart`)
                                 written by `train`; read by `load_run_config` (generate,
                                 paint, the Kaggle kernel), `painter report`, a resume
        data.json                {"data_root": …}: the data the run was trained on
                                 written by `train`; read by `run_data_root` (`painter
                                 generate` takes its photos and Monets from there)
        checkpoints/step_…/      the last `keep_checkpoints`; `checkpoints/best/`, kept by
                                 MiFID tracking (the lowest score so far); with
                                 `ema_decay`, each holds the generator's moving average
                                 too, and says which weights generate with
                                 written by `painter.train.checkpoints`; read by a resume,
                                 `load_generator`, `painter report`, `painter checkpoints`
        history.csv              one row per epoch: epoch, step, seconds, lr, losses, and
                                 what callbacks add (mifid, …; planned_epochs under a
                                 time budget)
                                 written by `painter.train.history`; read by a resume,
                                 `painter report`
        loss.png                 the loss curves by epoch, one panel per group of losses
                                 written by `painter.train.history`; shown by the report
        samples/epoch_NNN.png    fixed photos and gen_G's translations (or fixed latents)
                                 written by `train`; shown by `painter report`
        logs/                    TensorBoard scalars and sample images
                                 written by `painter.train.tensorboard`
        heartbeat.json           time, epoch, step, global_step: a sign of life
                                 written by `painter.train.heartbeat`; read by the Kaggle
                                 kernel's watchdog
        photo_split.json         the photos held out for tracking and for a final score
                                 (every name of each part; `split_photos`, below)
                                 written by `train` when the config holds photos out;
                                 read by a resume (the same photos must stay out),
                                 `split_files` (scripts that score the held-out photos)

A run `painter demo` made also holds `paintings.png` (the photos, the pretrained stylizer's
paintings of them, the trained generator's), which the report shows first.

`RUN_ENTRIES` lists these entries: what `painter train --force` clears, and only that.

The photo split sorts the photos by name (Kaggle's names are content hashes, so a name
range is a random sample, and the same one on every machine):

    scoring   the last `score_photos` names: never trained on, never tracked; for a final
              local score that no choice made during training has seen
    tracking  the `track_photos` names before them: scored during training
    training  the rest: the only photos the training pipeline reads

Photos are held out by file, so the photos must be image files: a root with
`photo_tfrec/` only cannot be split (Kaggle's root has `photo_jpg/` too, which is used).

Nothing here imports TensorFlow or Keras.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from painter.errors import CheckpointError, UsageError

CONFIG_TOML = "config.toml"
DATA_JSON = "data.json"
CHECKPOINTS_DIR = "checkpoints"
HISTORY_CSV = "history.csv"
LOSS_PNG = "loss.png"
SAMPLES_DIR = "samples"
LOGS_DIR = "logs"
HEARTBEAT_JSON = "heartbeat.json"
PHOTO_SPLIT_JSON = "photo_split.json"
PAINTINGS_PNG = "paintings.png"
# What `--force` clears in an existing run directory; anything else there is left alone.
RUN_ENTRIES = (CONFIG_TOML, DATA_JSON, CHECKPOINTS_DIR, HISTORY_CSV, LOSS_PNG, SAMPLES_DIR, LOGS_DIR,
               PHOTO_SPLIT_JSON, HEARTBEAT_JSON)

SPLIT_RULE = (
    "photos sorted by name; scoring = the last score_photos, tracking = the track_photos "
    "before them, training = the rest"
)
SPLIT_PARTS = ("training", "tracking", "scoring")


# ---- config.toml, data.json -------------------------------------------------------------


def load_run_config(run_dir: str | os.PathLike):
    """The resolved config a run wrote (`RUN_DIR/config.toml`).

    Raises:
        CheckpointError: not a run directory (no config.toml).
    """
    from painter.config import load_config

    path = Path(run_dir) / CONFIG_TOML
    if not path.is_file():
        raise CheckpointError(f"{run_dir}: not a run directory (no {CONFIG_TOML})")
    return load_config(path)


# ---- the tables after the config in config.toml -----------------------------------------

RUN_TABLE = "run"
RESTART_TABLE = "restart"
# Records of the run, not settings: `load_config` leaves them out.
RECORD_TABLES = (RUN_TABLE, RESTART_TABLE)


def _table_toml(name: str, comment: str, record: dict) -> str:
    lines = [f"\n[{name}]  # {comment}"]
    for key, value in record.items():
        if isinstance(value, str):
            text = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            text = repr(value)
        else:
            raise TypeError(f"{name} record values must be str, int or float: {key}={value!r}")
        lines.append(f"{key} = {text}")
    return "\n".join(lines) + "\n"


def _read_table(run_dir: str | os.PathLike, name: str) -> dict | None:
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    try:
        values = tomllib.loads((Path(run_dir) / CONFIG_TOML).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    table = values.get(name)
    return dict(table) if isinstance(table, dict) else None


def run_toml(record: dict) -> str:
    """The [run] table of config.toml: how the run trains, not what it trains: `backend`
    (Keras' backend, "tensorflow" or "jax") and `devices` (the replicas the global batch
    is split over); strings and numbers only. A resume on another backend rewrites it (the
    checkpoints are the same on both)."""
    return _table_toml(RUN_TABLE, "how this run trains (a resume rewrites it)", record)


def read_run_record(run_dir: str | os.PathLike) -> dict | None:
    """The [run] table of a run's config.toml (`run_toml`), or None (a run written before
    it was kept, or no readable config.toml)."""
    return _read_table(run_dir, RUN_TABLE)


def restart_toml(record: dict) -> str:
    """The [restart] table that ends a restarted run's config.toml: where its start came
    from. `record` holds `parent` (the parent run's directory), `checkpoint` (its name
    there), `epoch`, `global_step`, `generator_weights` and, when the parent tracked it,
    `mifid`; strings and numbers only."""
    return _table_toml(RESTART_TABLE, "the run this one started from (weights only)", record)


def read_restart(run_dir: str | os.PathLike) -> dict | None:
    """The [restart] table of a run's config.toml (`restart_toml`), or None for a run that
    started afresh (or has no readable config.toml)."""
    return _read_table(run_dir, RESTART_TABLE)


def run_data_root(run_dir: str | os.PathLike) -> Path | None:
    """The data root a run was trained on, or None for a run that did not record it."""
    path = Path(run_dir) / DATA_JSON
    if not path.is_file():
        return None
    try:
        return Path(json.loads(path.read_text())["data_root"])
    except (ValueError, KeyError, TypeError):
        raise CheckpointError(f"{path}: unreadable (expected {{\"data_root\": …}})") from None


# ---- photo_split.json -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PhotoSplit:
    """A deterministic three-way split of a photo folder (module docstring).

    Attributes:
        source: the folder the photos were listed from.
        training, tracking, scoring: the image files of each part, sorted by name.
    """

    source: str
    training: tuple[Path, ...]
    tracking: tuple[Path, ...]
    scoring: tuple[Path, ...]

    def names(self) -> dict[str, list[str]]:
        """{part: [image names]} of the three parts."""
        return {part: [p.stem for p in getattr(self, part)] for part in SPLIT_PARTS}

    def to_json(self) -> dict:
        return {
            "source": self.source,
            "rule": SPLIT_RULE,
            "counts": {part: len(names) for part, names in self.names().items()},
            **self.names(),
        }

    def write(self, run_dir: str | os.PathLike) -> Path:
        """Writes `RUN_DIR/photo_split.json` atomically."""
        from painter.io import atomic_path

        path = Path(run_dir) / PHOTO_SPLIT_JSON
        with atomic_path(path, force=True) as temp:
            temp.write_text(json.dumps(self.to_json(), indent=1) + "\n")
        return path


def read_split(run_dir: str | os.PathLike) -> dict | None:
    """The `photo_split.json` of a run as written (names and counts), or None."""
    path = Path(run_dir) / PHOTO_SPLIT_JSON
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def split_files(run_dir: str | os.PathLike, part: str, photo_folder: str | os.PathLike | None = None):
    """The image files of one part ("training", "tracking" or "scoring") of a run's split.

    Args:
        run_dir: a run directory with a `photo_split.json`.
        part: which part.
        photo_folder: where the photos are now. Default None: the folder recorded.

    Raises:
        UsageError: no split in the run, an unknown part, or a photo that is not there.
    """
    split = read_split(run_dir)
    if split is None:
        raise UsageError(f"{run_dir}: no {PHOTO_SPLIT_JSON} (the run did not hold photos out)")
    if part not in SPLIT_PARTS:
        raise UsageError(f"unknown part {part!r} of a photo split (training, tracking, scoring)")
    folder = Path(photo_folder or split["source"])
    by_name = {p.stem: p for p in _image_files(folder)}
    missing = [name for name in split[part] if name not in by_name]
    if missing:
        raise UsageError(f"{folder}: photo {missing[0]!r} of the run's {part} photos is not there")
    return [by_name[name] for name in split[part]]


def _image_files(folder: Path) -> list[Path]:
    from painter.data.sources import IMAGE_SUFFIXES, visible_files

    return [p for p in visible_files(folder) if p.suffix.lower() in IMAGE_SUFFIXES]


def photo_folder(root: str | os.PathLike) -> Path:
    """The folder of a Kaggle-layout root's photos as image files: the folder the photo
    source resolves to when it is one of images, else `photo_jpg/` beside the TFRecords.

    Raises:
        UsageError: no photo images to hold out (e.g. only `photo_tfrec/`).
    """
    from painter.data import resolve_source

    root = Path(root)
    source = resolve_source((root, "photo"))
    if source.kind == "images":
        return Path(source.files[0]).parent
    folder = root / "photo_jpg"
    if folder.is_dir() and _image_files(folder):
        return folder
    raise UsageError(
        f"{root}: holding photos out for MiFID tracking needs them as image files "
        f"(photo_jpg/); found {source.kind} only ({source})"
    )


def split_photos(
    folder: str | os.PathLike, *, track_photos: int, score_photos: int = 0
) -> PhotoSplit:
    """Splits a folder of photos by name (module docstring).

    Args:
        folder: a folder of JPEG/PNG photos.
        track_photos: photos held out for tracking (0: none).
        score_photos: photos held out for a final score, before tracking's (0: none).

    Raises:
        ValueError: a negative count.
        UsageError: names that are not unique, or nothing left to train on.
    """
    for name, value in (("track_photos", track_photos), ("score_photos", score_photos)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"`{name}` must be an int >= 0. Received: {name}={value!r}")
    folder = Path(folder)
    files = sorted(_image_files(folder), key=lambda p: (p.stem, p.name))
    stems = [p.stem for p in files]
    if len(set(stems)) != len(stems):
        twice = next(s for s in stems if stems.count(s) > 1)
        raise UsageError(f"{folder}: two photos named {twice!r}; a split by name needs unique names")
    held = track_photos + score_photos
    if held >= len(files):
        raise UsageError(
            f"{folder}: {len(files)} photos; holding out {track_photos} for tracking and "
            f"{score_photos} for scoring leaves none to train on (lower track_photos/score_photos)"
        )
    cut = len(files) - held
    return PhotoSplit(
        source=str(folder),
        training=tuple(files[:cut]),
        tracking=tuple(files[cut : cut + track_photos]),
        scoring=tuple(files[cut + track_photos :]),
    )
