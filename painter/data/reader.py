"""Reading every image of a source as encoded bytes, each entry checked.

`iter_encoded_images` is the one door other parts use (scoring, submission checks,
generation): TFRecords, folders and zips all come out as `EncodedImage`s in a fixed order
(files sorted; records in file order; zip members sorted).
"""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path
from typing import Iterator, MutableSequence

from painter.data.images import BadEntry, EncodedImage, ImageHeader, Location, probe_image
from painter.data.sources import Source, SourceLike, resolve_source
from painter.data.tfrecord import iter_tfrecord_payloads, parse_record
from painter.errors import DataError

_log = logging.getLogger(__name__)

Report = MutableSequence[BadEntry]


Entry = tuple[EncodedImage, Location] | BadEntry


def _tfrecord_entries(path: Path) -> Iterator[Entry]:
    for index, item in iter_tfrecord_payloads(path):
        where = Location(str(path), record=index)
        if isinstance(item, str):
            yield BadEntry(where, item)
            continue
        record = parse_record(item, str(path), index)
        yield record if isinstance(record, BadEntry) else (record, where)


def _zip_entries(path: Path) -> Iterator[Entry]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise DataError(f"{path}: not a readable zip file ({e})") from None
    with archive:
        members = sorted(
            (info for info in archive.infolist()
             if not info.is_dir() and not info.filename.startswith("__MACOSX/")
             and not Path(info.filename).name.startswith(".")),
            key=lambda info: info.filename,
        )
        if not members:
            raise DataError(f"{path}: empty zip (no image files)")
        for info in members:
            where = Location(str(path), member=info.filename)
            try:
                data = archive.read(info)
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as e:
                yield BadEntry(where, f"unreadable zip member ({e})")
                continue
            yield EncodedImage(Path(info.filename).stem, data, where.origin), where


def _folder_entries(files: tuple[Path, ...]) -> Iterator[Entry]:
    for path in files:
        where = Location(str(path))
        try:
            data = path.read_bytes()
        except OSError as e:
            yield BadEntry(where, f"unreadable ({e.strerror or e})")
            continue
        yield EncodedImage(path.stem, data, where.origin), where


def _raw_entries(source: Source) -> Iterator[Entry]:
    if source.kind == "tfrecord":
        for path in source.files:
            yield from _tfrecord_entries(path)
    elif source.kind == "zip":
        yield from _zip_entries(source.files[0])
    else:
        yield from _folder_entries(source.files)


def handle_bad(bad: BadEntry, skip_bad: bool, report: Report | None) -> None:
    """Raises DataError for `bad`, or records it (`report`) / logs it when skipping."""
    if not skip_bad:
        raise DataError(str(bad))
    if report is not None:
        report.append(bad)
    else:
        _log.warning("skipping %s", bad)


def iter_checked_images(
    source: SourceLike, *, skip_bad: bool = False, report: Report | None = None
) -> Iterator[tuple[EncodedImage, ImageHeader]]:
    """Like `iter_encoded_images`, with each image's header (format, size, mode)."""
    source = resolve_source(source)
    # Kaggle's TFRecords hold JPEGs; the pipeline decodes them with decode_jpeg.
    formats = ("JPEG",) if source.kind == "tfrecord" else ("JPEG", "PNG")
    for entry in _raw_entries(source):
        if not isinstance(entry, BadEntry):
            image, where = entry
            try:
                header = probe_image(image.data, formats)
            except ValueError as e:
                reason = f"'image' is {e}" if source.kind == "tfrecord" else str(e)
                entry = BadEntry(where, reason)
            else:
                yield image, header
                continue
        handle_bad(entry, skip_bad, report)


def iter_encoded_images(
    source: SourceLike, *, skip_bad: bool = False, report: Report | None = None
) -> Iterator[EncodedImage]:
    """Every image of `source`, as stored (encoded bytes, untouched), checked on the way.

    Each entry is checked without decoding it in full: a TFRecord frame's checksums, the
    record's `image` feature, the JPEG/PNG header, and that the data is not cut short.

    Args:
        source: a folder of TFRecords or images, a glob, a list of files, a zip, a
            `(kaggle_root, domain)` tuple, or a `Source` (see `painter.data.sources`).
        skip_bad: go on past bad entries. Default False: the first one raises DataError.
        report: with `skip_bad`, a list each skipped entry is appended to (a `BadEntry`:
            `str()` names the file, the record or member, and the reason). Default None:
            skipped entries are logged as warnings.

    Yields:
        `EncodedImage(name, data, origin)`.

    Raises:
        UsageError: a missing path (see `resolve_source`).
        DataError: an empty folder, an unreadable zip, or a bad entry (without skip_bad).
    """
    for image, _ in iter_checked_images(source, skip_bad=skip_bad, report=report):
        yield image
