"""Sources: what the user names as data, resolved to a kind and a list of files.

A source is one of
- a folder of TFRecords (`*.tfrec`, `*.tfrecord`; other files in it are ignored),
- a folder of JPEG/PNG images (every file that is not hidden must be an image),
- a glob (`data/monet*.tfrec`) or a list of files (all TFRecords or all images),
- a zip of images (a Kaggle `images.zip`),
- a Kaggle-layout root (`/kaggle/input/gan-getting-started`) and a domain (`monet`,
  `photo`, or any other name): `{domain}_tfrec/`, falling back to `{domain}_jpg/`. Pass it
  as `resolve_source(root, domain="monet")` or as the tuple `(root, "monet")`.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re
from pathlib import Path
from typing import Any, Sequence, Union

from painter.errors import DataError, UsageError

SAMPLE_ROOT = Path(__file__).resolve().parent / "sample"
DOMAINS = ("monet", "photo")
TFRECORD_SUFFIXES = (".tfrec", ".tfrecord")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
_DOMAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclasses.dataclass(frozen=True)
class Source:
    """A resolved source.

    Attributes:
        kind: `tfrecord`, `images` or `zip`.
        files: the files, sorted (for `zip`: the one zip file).
        label: what the user named, for messages.
    """

    kind: str
    files: tuple[Path, ...]
    label: str

    def __str__(self) -> str:
        return self.label


SourceLike = Union[str, os.PathLike, Sequence[Union[str, os.PathLike]], Source]


def kaggle_domains(root: str | os.PathLike) -> list[str]:
    """The domains of a Kaggle-layout root: names with a `{name}_tfrec/` or `{name}_jpg/`."""
    root = Path(root)
    if not root.is_dir():
        return []
    names = set()
    for child in root.iterdir():
        for suffix in ("_tfrec", "_jpg"):
            if child.is_dir() and child.name.endswith(suffix) and len(child.name) > len(suffix):
                names.add(child.name[: -len(suffix)])
    return sorted(names)


def _is_tfrecord(path: Path) -> bool:
    return path.suffix.lower() in TFRECORD_SUFFIXES


def visible_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".") and p.is_file())


def _from_folder(folder: Path, label: str) -> Source:
    files = visible_files(folder)
    tfrecords = [p for p in files if _is_tfrecord(p)]
    if tfrecords:
        return Source("tfrecord", tuple(tfrecords), label)
    if files:
        return Source("images", tuple(files), label)
    domains = kaggle_domains(folder)
    if domains:
        raise UsageError(
            f"{label} is a Kaggle-layout root holding {', '.join(domains)}; "
            f"name a domain (e.g. {folder / (domains[0] + '_jpg')})"
        )
    raise DataError(f"{label}: empty folder (no .tfrec or image files)")


def _from_files(files: list[Path], label: str) -> Source:
    for path in files:
        if not path.exists():
            raise UsageError(f"{path}: no such file")
        if path.is_dir():
            raise UsageError(f"{path}: a folder inside a list of files")
    if len(files) == 1 and files[0].suffix.lower() == ".zip":
        return Source("zip", (files[0],), label)
    tfrecords = [p for p in files if _is_tfrecord(p)]
    if tfrecords and len(tfrecords) != len(files):
        other = next(p for p in files if not _is_tfrecord(p))
        raise UsageError(f"{label}: mixes TFRecords and other files ({other})")
    return Source("tfrecord" if tfrecords else "images", tuple(files), label)


def _from_root(root: Path, domain: str) -> Source:
    if not _DOMAIN_NAME.match(domain):
        raise UsageError(f"bad domain name {domain!r}: use letters, digits, _ . -")
    if not root.exists():
        raise UsageError(f"{root}: no such file or directory")
    if not root.is_dir():
        raise UsageError(f"{root}: not a folder (a domain needs a Kaggle-layout root)")
    for folder in (root / f"{domain}_tfrec", root / f"{domain}_jpg"):
        if folder.is_dir() and visible_files(folder):
            return _from_folder(folder, str(folder))
    known = kaggle_domains(root)
    raise UsageError(
        f"{root}: no {domain}_tfrec/ or {domain}_jpg/ with files in it"
        + (f" (domains here: {', '.join(known)})" if known else "")
    )


def _root_and_domain(source: Any) -> tuple[Path, str] | None:
    """`(root, domain)` when `source` is that tuple rather than a pair of files (a list of
    files cannot hold a folder, so a folder first means a root)."""
    if not (isinstance(source, tuple) and len(source) == 2 and isinstance(source[1], str)):
        return None
    root, domain = Path(source[0]), source[1]
    if root.is_dir() and _DOMAIN_NAME.match(domain) and Path(domain).suffix.lower() not in (
            TFRECORD_SUFFIXES + IMAGE_SUFFIXES + (".zip",)):
        return root, domain
    return None


def resolve_source(source: SourceLike, domain: str | None = None) -> Source:
    """Resolves what the user named to a `Source` (see the module docstring for forms).

    Args:
        source: a path, a glob, a list of files, a `(root, domain)` tuple, or a `Source`.
        domain: with a Kaggle-layout root: the domain to read. Default None.

    Raises:
        UsageError: a missing path, a glob matching nothing, a root without the domain.
        DataError: an empty folder.
    """
    if isinstance(source, Source):
        return source
    pair = _root_and_domain(source)
    if pair is not None:
        return _from_root(*pair)
    if isinstance(source, (list, tuple)):
        if not source:
            raise UsageError("no input files given")
        return _from_files([Path(p) for p in source], f"{len(source)} files")
    label = os.fspath(source)
    path = Path(os.path.expanduser(label))
    if domain is not None:
        return _from_root(path, domain)
    if path.is_dir():
        return _from_folder(path, label)
    if path.is_file():
        return _from_files([path], label)
    if glob.has_magic(label):
        matches = sorted(Path(p) for p in glob.glob(os.path.expanduser(label)))
        matches = [p for p in matches if p.is_file()]
        if not matches:
            raise UsageError(f"{label}: no files match")
        return _from_files(matches, label)
    raise UsageError(f"{label}: no such file or directory")
