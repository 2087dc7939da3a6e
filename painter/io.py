"""Safe writing: nothing the user has is replaced without `force`, and nothing is left
half-written. Every output goes to a temporary name in the same folder and is renamed
into place only when complete."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from painter.errors import UsageError


def check_output(path: str | os.PathLike, force: bool = False) -> Path:
    """Returns `path` as a Path; raises UsageError if it exists and `force` is False."""
    path = Path(path)
    if path.exists() and not force:
        raise UsageError(f"{path} exists; pass --force to replace it")
    return path


def current_umask() -> int:
    """The process umask (os.umask can only be read by setting it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yields a temporary path beside `path`; on success renames it onto `path`.

    On an exception (or Ctrl-C) the temporary file is removed and `path` is untouched.

    Args:
        path: the final file.
        force: replace an existing `path`. Default False: an existing path is a UsageError.
    """
    path = check_output(path, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        # mkstemp makes 0600 files; give the output the mode a plain open() would.
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Like `atomic_path` for a folder: filled under a temporary name, then renamed."""
    path = check_output(path, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~current_umask())
        if path.exists():
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
