"""Writing TFRecords exactly as Kaggle's: `{prefix}{index:02d}-{count}.tfrec`.

Each record holds `image_name` (the image's name: a file stem, or a TFRecord's own
`image_name`), `image` (JPEG bytes) and `target` (the prefix, e.g. `photo`).

An RGB JPEG already at `image_size`² is stored byte for byte as read. Anything else — a
PNG, a grayscale/CMYK JPEG, another size — is decoded, converted to RGB, resized to
`image_size`² (PIL bilinear, antialiased; the aspect ratio is not kept) and re-encoded as
JPEG at quality 95; these are counted as `reencoded`.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

from painter.data.images import BadEntry, decode_rgb, encode_jpeg
from painter.data.reader import Report, iter_checked_images
from painter.data.sources import SourceLike, resolve_source
from painter.data.tfrecord import serialize_record, tfrecord_name
from painter.errors import DataError, UsageError
from painter.io import current_umask

_PREFIX = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclasses.dataclass(frozen=True)
class WrittenTFRecords:
    """What `write_tfrecords` wrote: the files, the images, how many were re-encoded,
    and the bad entries skipped (with `skip_bad`)."""

    files: list[Path]
    images: int
    reencoded: int
    skipped: list[BadEntry]


def existing_tfrecords(out_dir: Path, prefix: str) -> list[Path]:
    """Files in `out_dir` that a write with `prefix` would replace."""
    pattern = re.compile(re.escape(prefix) + r"\d{2,}-\d+\.tfrec")
    if not out_dir.is_dir():
        return []
    return sorted(p for p in out_dir.iterdir() if pattern.fullmatch(p.name))


def check_tfrecord_output(out_dir: Path, prefix: str, per_file: int, force: bool) -> list[Path]:
    """Checks a TFRecord write's options and output; returns the existing files it replaces.

    Raises:
        UsageError: a bad prefix or per_file, an output that is not a folder, or existing
            `{prefix}NN-*.tfrec` files without `force`.
    """
    if not isinstance(prefix, str) or not _PREFIX.match(prefix):
        raise UsageError(f"bad prefix {prefix!r}: use letters, digits, _ . -")
    if not isinstance(per_file, int) or per_file < 1:
        raise UsageError(f"per_file must be at least 1, got {per_file!r}")
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir} exists and is not a folder")
    existing = existing_tfrecords(out_dir, prefix)
    if existing and not force:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise UsageError(f"{existing[0]} exists{more}; pass --force to replace it")
    return existing


def write_record_files(records: Iterable[bytes], out_dir: Path, prefix: str, per_file: int,
                       existing: Sequence[Path], nothing: str) -> list[Path]:
    """Writes serialized records, `per_file` to a file, named as Kaggle's.

    Each file is written under a temporary name; only when all are complete are the
    `existing` files removed and the new ones renamed into place, so a failure (an
    exception from `records` included) leaves `out_dir` as it was.

    Raises:
        DataError: `records` yields nothing (the message is `nothing`).
    """
    from painter.data.tfrecord import encode_frame

    made_dir = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[tuple[Path, Path]] = []  # (temporary, final)
    writer = None
    temp = None
    count = total = 0

    def close_file() -> None:
        nonlocal writer, count
        writer.close()
        temp.chmod(0o666 & ~current_umask())  # mkstemp makes 0600; outputs get the usual mode
        written.append((temp, out_dir / tfrecord_name(prefix, len(written), count)))
        writer, count = None, 0

    try:
        for record in records:
            if writer is None:
                fd, name = tempfile.mkstemp(prefix=f".{prefix}.", suffix=".tfrec.tmp",
                                            dir=out_dir)
                os.close(fd)
                temp = Path(name)
                writer = open(temp, "wb")
            writer.write(encode_frame(record))
            count += 1
            total += 1
            if count == per_file:
                close_file()
        if writer is not None:
            close_file()
        if total == 0:
            raise DataError(nothing)
        for old in existing:
            old.unlink()
        for temp_path, final in written:
            os.replace(temp_path, final)
    except BaseException:
        if writer is not None:
            writer.close()
            written.append((temp, temp))
        for temp_path, _ in written:
            temp_path.unlink(missing_ok=True)
        if made_dir and not any(out_dir.iterdir()):
            out_dir.rmdir()
        raise
    return [final for _, final in written]


def write_tfrecords(
    source: SourceLike,
    out_dir: str | os.PathLike,
    prefix: str,
    per_file: int = 352,
    force: bool = False,
    *,
    image_size: int = 256,
    skip_bad: bool = False,
    report: Report | None = None,
) -> WrittenTFRecords:
    """Writes every image of `source` to TFRecords in Kaggle's format and naming.

    Each file is written under a temporary name; only when all are complete are the old
    `{prefix}NN-*.tfrec` files (with `force`) removed and the new ones renamed into place,
    so a failure leaves `out_dir` as it was.

    Args:
        source: any source `painter.data` reads.
        out_dir: the folder to write to; made if missing.
        prefix: file prefix and `target` value, e.g. `photo`.
        per_file: records per file. Default 352 (Kaggle's photo files).
        force: replace existing `{prefix}NN-*.tfrec` files. Default False: UsageError.
        image_size: the stored size; others are re-encoded at it. Default 256.
        skip_bad: go on past bad entries. Default False.
        report: with `skip_bad`, a list that skipped entries are appended to.

    Raises:
        UsageError: bad prefix/per_file, an existing output without `force`, a missing source.
        DataError: a bad entry (without `skip_bad`), or no image at all.
    """
    if not isinstance(image_size, int) or image_size < 1:
        raise UsageError(f"image size must be at least 1, got {image_size!r}")
    out_dir = Path(out_dir)
    existing = check_tfrecord_output(out_dir, prefix, per_file, force)
    source = resolve_source(source)
    skipped: list[BadEntry] = [] if report is None else report
    start = len(skipped)
    counts = {"images": 0, "reencoded": 0}

    def records():
        for image, header in iter_checked_images(source, skip_bad=skip_bad, report=skipped):
            data = image.data
            if not header.is_rgb_jpeg(image_size):
                data = encode_jpeg(decode_rgb(data, image.origin, image_size))
                counts["reencoded"] += 1
            counts["images"] += 1
            yield serialize_record(image.name, data, prefix)

    files = write_record_files(records(), out_dir, prefix, per_file, existing,
                               f"{source}: no readable images to write")
    return WrittenTFRecords(files, counts["images"], counts["reencoded"], list(skipped[start:]))
