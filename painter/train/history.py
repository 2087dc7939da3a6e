"""A run's history: `history.csv` (one row per epoch) and `loss.png` (drawn with PIL).

Rows are dicts; the CSV's columns are the union of their keys in order of appearance, so
an epoch hook may add a column (MiFID) from any epoch on; earlier rows leave it empty.
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import Sequence

from PIL import Image, ImageDraw, ImageFont

from painter.io import atomic_path

# Columns that are bookkeeping, not curves.
NOT_PLOTTED = ("epoch", "step", "seconds", "planned_epochs")

_COLOURS = [
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
]


def columns(rows: Sequence[dict]) -> list[str]:
    """The union of the rows' keys, in order of first appearance."""
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(key, None)
    return list(seen)


def write_history(rows: Sequence[dict], path: str | os.PathLike) -> Path:
    """Writes the rows as CSV, atomically (replacing the previous file)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns(rows), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _format(v) for k, v in row.items()})
    with atomic_path(path, force=True) as temp:
        temp.write_text(buffer.getvalue())
    return Path(path)


def _format(value):
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


def read_history(path: str | os.PathLike) -> list[dict]:
    """The rows of a history CSV (numbers as int/float, empty cells dropped); [] if absent."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    with open(path, newline="") as f:
        for raw in csv.DictReader(f):
            row = {}
            for key, text in raw.items():
                if key is None or text in (None, ""):
                    continue
                row[key] = _parse(text)
            rows.append(row)
    return rows


def _parse(text: str):
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _curves(rows: Sequence[dict]) -> dict[str, list[tuple[float, float]]]:
    curves: dict[str, list[tuple[float, float]]] = {}
    for index, row in enumerate(rows):
        x = row.get("epoch", index + 1)
        for key, value in row.items():
            if key in NOT_PLOTTED or not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            if math.isfinite(value):
                curves.setdefault(key, []).append((float(x), float(value)))
    return curves


def _label(value: float) -> str:
    return f"{value:.3g}"


def plot_history(
    rows: Sequence[dict], path: str | os.PathLike, *, panel_size=(300, 170), cols: int = 3
) -> Path:
    """Draws every numeric column of `rows` against the epoch, one small panel each.

    Losses of a GAN live on different scales (a generator's total near 10, a
    discriminator's near 0.3), so each curve gets its own panel and y-range rather than
    sharing one axis. Written atomically as PNG.
    """
    curves = _curves(rows)
    if not curves:
        curves = {"(no epochs yet)": []}
    cols = max(1, min(cols, len(curves)))
    rows_count = math.ceil(len(curves) / cols)
    width, height = panel_size
    image = Image.new("RGB", (cols * width, rows_count * height), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    margin_left, margin_right, margin_top, margin_bottom = 46, 10, 20, 22
    for index, (name, points) in enumerate(curves.items()):
        left = (index % cols) * width
        top = (index // cols) * height
        colour = _COLOURS[index % len(_COLOURS)]
        draw.text((left + margin_left, top + 4), name, fill=colour, font=font)
        box = (
            left + margin_left,
            top + margin_top,
            left + width - margin_right,
            top + height - margin_bottom,
        )
        draw.rectangle(box, outline=(180, 180, 180))
        if not points:
            continue
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        x_min, x_max = min(xs), max(xs)
        y_min, y_max = min(ys), max(ys)
        if x_max == x_min:
            x_min, x_max = x_min - 1, x_max + 1
        if y_max == y_min:
            y_min, y_max = y_min - abs(y_min) * 0.1 - 1e-6, y_max + abs(y_max) * 0.1 + 1e-6

        def to_pixel(x, y):
            px = box[0] + (x - x_min) / (x_max - x_min) * (box[2] - box[0])
            py = box[3] - (y - y_min) / (y_max - y_min) * (box[3] - box[1])
            return px, py

        pixels = [to_pixel(x, y) for x, y in points]
        if len(pixels) > 1:
            draw.line(pixels, fill=colour, width=2)
        for px, py in pixels if len(pixels) <= 60 else pixels[-1:]:
            draw.ellipse((px - 2, py - 2, px + 2, py + 2), fill=colour)
        draw.text((left + 2, box[1] - 4), _label(y_max), fill=(90, 90, 90), font=font)
        draw.text((left + 2, box[3] - 8), _label(y_min), fill=(90, 90, 90), font=font)
        draw.text((box[0], box[3] + 4), f"epoch {x_min:g}", fill=(90, 90, 90), font=font)
        end_label = f"{x_max:g}"
        end_x = box[2] - 6 * len(end_label)
        draw.text((end_x, box[3] + 4), end_label, fill=(90, 90, 90), font=font)
    with atomic_path(path, force=True) as temp:
        image.save(temp, format="PNG")
    return Path(path)
