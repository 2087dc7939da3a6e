"""`painter data info`: what a source holds, and every bad entry in it."""

from __future__ import annotations

import collections
import os
from pathlib import Path
from typing import Sequence

from painter.data.images import BadEntry
from painter.data.reader import iter_checked_images
from painter.data.sources import Source, visible_files, kaggle_domains, resolve_source


def _expand(path: str | os.PathLike) -> list[Source]:
    """A path's sources: itself, or each `{domain}_tfrec/` and `{domain}_jpg/` of a root."""
    folder = Path(path)
    if folder.is_dir() and not visible_files(folder) and kaggle_domains(folder):
        sources = []
        for domain in kaggle_domains(folder):
            for sub in (folder / f"{domain}_tfrec", folder / f"{domain}_jpg"):
                if sub.is_dir() and visible_files(sub):
                    sources.append(resolve_source(sub))
        return sources
    return [resolve_source(path)]


def describe_source(source: Source, image_size: int = 256) -> dict:
    """Counts for one source: files, images, shapes, modes, formats, bad entries.

    `resized` counts images not at image_size² (the pipeline and `to-tfrecord` resize
    them), `converted` images not RGB (converted to RGB), `reencoded` those `to-tfrecord`
    re-encodes (anything but an RGB JPEG at image_size²).
    """
    bad: list[BadEntry] = []
    shapes: collections.Counter = collections.Counter()
    modes: collections.Counter = collections.Counter()
    formats: collections.Counter = collections.Counter()
    names = set()
    images = total_bytes = resized = converted = reencoded = 0
    for image, header in iter_checked_images(source, skip_bad=True, report=bad):
        images += 1
        total_bytes += len(image.data)
        names.add(image.name)
        shapes[header.shape] += 1
        modes[header.mode] += 1
        formats[header.format] += 1
        resized += (header.width, header.height) != (image_size, image_size)
        converted += header.mode != "RGB"
        reencoded += not header.is_rgb_jpeg(image_size)
    return {
        "path": source.label,
        "kind": source.kind,
        "files": len(source.files),
        "images": images,
        "unique_names": len(names),
        "bytes": total_bytes,
        "shapes": dict(shapes.most_common()),
        "modes": dict(modes.most_common()),
        "formats": dict(formats.most_common()),
        "image_size": image_size,
        "resized": resized,
        "converted": converted,
        "reencoded": reencoded,
        "bad": [dict(entry.to_dict(), message=str(entry)) for entry in bad],
    }


def data_info(paths: Sequence[str | os.PathLike], image_size: int = 256) -> list[dict]:
    """`describe_source` of each path (a Kaggle-layout root gives one entry per folder).

    Every path is resolved before any is read, so a missing one fails at once.

    Raises:
        UsageError: a missing path. DataError: an empty folder, an unreadable zip.
    """
    sources = [source for path in paths for source in _expand(path)]
    return [describe_source(source, image_size) for source in sources]


def _counts(counter: dict) -> str:
    return ", ".join(f"{key}: {value}" for key, value in counter.items()) or "-"


def format_info(entries: list[dict]) -> str:
    """The text report of `data_info`."""
    lines = []
    for entry in entries:
        size = entry["image_size"]
        files = f"{entry['files']} file{'s' if entry['files'] != 1 else ''}"
        shapes = list(entry["shapes"])
        of = f" of {shapes[0]}" if len(shapes) == 1 else " of mixed shapes" if shapes else ""
        lines += [
            f"{entry['path']} ({entry['kind']}, {files})",
            f"  images     {entry['images']}{of} ({entry['unique_names']} unique names, "
            f"{entry['bytes'] / 1e6:.1f} MB)",
            f"  shapes     {_counts(entry['shapes'])}",
            f"  modes      {_counts(entry['modes'])}",
            f"  formats    {_counts(entry['formats'])}",
            f"  resized    {entry['resized']} (not {size}x{size})",
            f"  converted  {entry['converted']} (not RGB)",
            f"  reencoded  {entry['reencoded']} (by to-tfrecord: not an RGB JPEG of "
            f"{size}x{size})",
            f"  bad        {len(entry['bad'])}",
        ]
        lines += [f"    {bad['message']}" for bad in entry["bad"]]
    return "\n".join(lines)
