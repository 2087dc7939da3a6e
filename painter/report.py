"""`painter report`: one self-contained HTML page about a training run.

The page is built from what `painter train` leaves in its run directory and tolerates
whatever is missing (a run still in its first epoch has no samples; MiFID is a column
only when tracked):

    RUN_DIR/config.toml          resolved config, non-defaults marked "# changed"
    RUN_DIR/history.csv          one row per epoch: epoch, losses…, seconds, lr[, mifid]
    RUN_DIR/samples/epoch_NNN.png
    RUN_DIR/checkpoints/…

Everything is inlined — images as base64 data URIs, CSS in a <style>, charts as inline
SVG drawn here (no matplotlib) — and a Content-Security-Policy forbids every network
fetch, so the file can be mailed, attached to a Kaggle dataset or opened offline.

Layers: `read_run` (files → `RunRecord`) ← `line_chart_svg` (numbers → SVG) ←
`render_report` (record → HTML) ← `write_report` (the front door, atomic write).
Nothing here imports TensorFlow.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import datetime
import html
import io
import json
import math
import re
import statistics
import sys
from pathlib import Path
from typing import Any, Sequence

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from painter.config import FAMILIES
from painter.errors import DataError, UsageError
from painter.io import atomic_path

REPORT_NAME = "report.html"
# history.csv columns that are not losses; everything else numeric is charted.
NON_LOSS_COLUMNS = frozenset({"epoch", "step", "steps", "seconds", "lr", "mifid", "fid",
                              "distance", "track_seconds",  # these two: MiFID tracking
                              "planned_epochs"})  # the epochs a time budget fits
SAMPLE_PATTERN = re.compile(r"^epoch_(\d+)\.(png|jpe?g)$", re.IGNORECASE)
CHART_COLORS = (
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
    "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22",
)


@dataclasses.dataclass(frozen=True)
class ConfigRow:
    """One key of the resolved config; `default` is None when the family is unknown."""

    key: str
    value: Any
    default: Any
    changed: bool


@dataclasses.dataclass(frozen=True)
class History:
    """history.csv as columns of floats (None where a cell is empty or unreadable).

    Rows are sorted by epoch; when a resumed run wrote an epoch twice, the later row wins.
    """

    columns: tuple[str, ...]
    epochs: tuple[float, ...]
    values: dict[str, tuple[float | None, ...]]

    def finite(self, column: str) -> tuple[list[float], list[float]]:
        """(epochs, values) of the rows where `column` holds a finite number."""
        xs, ys = [], []
        for x, y in zip(self.epochs, self.values.get(column, ())):
            if y is not None and math.isfinite(y):
                xs.append(x)
                ys.append(y)
        return xs, ys


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

    `epoch`, `global_step`, `step_in_epoch` and `metrics` come from the folder's
    manifest.json (painter's checkpoint format); None / {} when it has none.
    """

    name: str
    size_bytes: int
    modified: datetime.datetime
    is_dir: bool
    epoch: int | None = None
    global_step: int | None = None
    step_in_epoch: int | None = None
    metrics: dict = dataclasses.field(default_factory=dict)


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

    def config_value(self, key: str, default: Any = None) -> Any:
        for row in self.config:
            if row.key == key:
                return row.value
        return default


# ---- reading the run directory ------------------------------------------------------


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
    cls = FAMILIES.get(family)
    defaults = {f.name: f.default for f in dataclasses.fields(cls)} if cls else {}
    rows = []
    for key, value in values.items():
        default = defaults.get(key)
        changed = key in marked or (key in defaults and value != default)
        rows.append(ConfigRow(key, value, default, changed))
    return family, tuple(rows)


def _to_float(cell: str | None) -> float | None:
    if cell is None or not cell.strip():
        return None
    try:
        return float(cell)
    except ValueError:
        return None


def read_history(path: Path) -> tuple[History, list[str]]:
    """Reads history.csv → (History, warnings). A missing file is an empty history.

    Tolerates what a live or crashed run leaves: a half-written last line, empty cells
    (MiFID on untracked epochs), non-numbers, and epochs written twice after a resume.
    """
    warnings: list[str] = []
    if not path.is_file():
        return History((), (), {}), warnings
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        reader = csv.DictReader(f)
        columns = tuple(c.strip() for c in (reader.fieldnames or ()) if c and c.strip())
        raw_rows = [{(k or "").strip(): v for k, v in row.items()} for row in reader]
    by_epoch: dict[float, dict[str, float | None]] = {}
    for index, raw in enumerate(raw_rows):
        epoch = _to_float(raw.get("epoch"))
        if epoch is None:
            if "epoch" in columns:
                warnings.append(f"{path.name}: row {index + 1} has no epoch; skipped")
                continue
            epoch = float(index + 1)
        by_epoch[epoch] = {c: _to_float(raw.get(c)) for c in columns}
    epochs = tuple(sorted(by_epoch))
    values = {c: tuple(by_epoch[e][c] for e in epochs) for c in columns if c != "epoch"}
    for column, cells in values.items():
        bad = [e for e, v in zip(epochs, cells) if v is not None and not math.isfinite(v)]
        if bad:
            shown = ", ".join(_format_epoch(e) for e in bad[:5]) + (" …" if len(bad) > 5 else "")
            warnings.append(f"{column} is not finite at epoch {shown}")
    return History(columns, epochs, values), warnings


def _read_image(path: Path, epoch: int) -> SampleGrid:
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
    return tuple(_read_image(path, epoch) for epoch, path in sorted(found, reverse=True))


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

    Reads manifest.json directly rather than through painter.train, which would pull
    in TensorFlow for a report that needs none.
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
    config_path = run_dir / "config.toml"
    if not config_path.is_file():
        raise UsageError(f"{run_dir}: not a run directory (no config.toml)")
    family, config = read_config(config_path)
    history, warnings = read_history(run_dir / "history.csv")
    samples = read_samples(run_dir / "samples")
    warnings += [f"{s.path.relative_to(run_dir)}: unreadable ({s.problem})"
                 for s in samples if s.data is None]
    history_path = run_dir / "history.csv"
    last_write = history_path if history_path.is_file() else config_path
    return RunRecord(
        run_dir=run_dir,
        name=run_dir.resolve().name,
        family=family,
        config=config,
        history=history,
        samples=samples,
        checkpoints=read_checkpoints(run_dir / "checkpoints"),
        started=datetime.datetime.fromtimestamp(config_path.stat().st_mtime),
        updated=datetime.datetime.fromtimestamp(last_write.stat().st_mtime),
        warnings=tuple(warnings),
    )


# ---- charts -------------------------------------------------------------------------


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 2.5 or 5 × 10^k apart) covering [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"nice_ticks needs finite bounds. Received: low={low}, high={high}")
    if high < low:
        low, high = high, low
    if high == low:
        pad = abs(low) * 0.1 or 1.0
        low, high = low - pad, high + pad
    raw_step = (high - low) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw_step))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw_step)
    first = math.floor(low / step + 1e-9) * step
    count = math.ceil((high - first) / step - 1e-9) + 1
    # Rounded to the step's own precision (0.30000000000000004 → 0.3); not coarser, or
    # a nearly flat curve would get ticks that collapse onto one value.
    digits = max(0, 2 - math.floor(math.log10(step)))
    return [round(first + i * step, digits) for i in range(count)]


def _format_number(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e5 or abs(value) < 1e-3:
        mantissa, exponent = f"{value:.2e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"  # 2.2e-4, not 2.20e-04
    return f"{value:.4g}"


def _format_epoch(epoch: float) -> str:
    return str(int(epoch)) if float(epoch).is_integer() else f"{epoch:g}"


def _epoch_ticks(xs: Sequence[float]) -> list[float]:
    low, high = min(xs), max(xs)
    if high == low:  # one epoch: centre it rather than zoom to ±10 %
        return [low - 1, low, low + 1]
    ticks = nice_ticks(low, high)
    if all(float(x).is_integer() for x in xs):
        whole = [t for t in ticks if float(t).is_integer()]
        if len(whole) >= 2 and whole[0] <= low and whole[-1] >= high:
            ticks = whole
    return ticks


def line_chart_svg(
    series: dict[str, tuple[Sequence[float], Sequence[float]]],
    *,
    title: str,
    chart_id: str,
    x_label: str = "epoch",
    y_label: str = "",
    mark_min: bool = False,
    width: int = 640,
    height: int = 300,
) -> str:
    """An inline SVG line chart; one polyline (and dots) per series.

    Args:
        series: name → (xs, ys), finite numbers only (see `History.finite`).
        title: the chart's heading, also its accessible label.
        chart_id: the svg element's id.
        x_label: default "epoch".
        y_label: default "".
        mark_min: ring each series' lowest point and label it (for MiFID, lower is
            better). Default False.
        width: default 640 (a viewBox: the chart scales with the page).
        height: default 300.

    Returns:
        The `<svg>` element as a string. With no points at all it still returns an svg
        saying "no data", so the page layout never depends on the run's progress.
    """
    if width < 200 or height < 120:
        raise ValueError(f"chart too small. Received: width={width}, height={height}")
    left, right, top, bottom = 70, 130, 34, 46
    plot_w, plot_h = width - left - right, height - top - bottom
    esc = html.escape
    parts = [
        f'<svg class="chart" id="{esc(chart_id)}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(title)}">',
        f'<text class="chart-title" x="{left}" y="20">{esc(title)}</text>',
    ]
    points = [(x, y) for xs, ys in series.values() for x, y in zip(xs, ys)]
    if not points:
        parts.append(f'<text class="no-data" x="{width / 2}" y="{height / 2}" '
                     f'text-anchor="middle">no data yet</text></svg>')
        return "".join(parts)
    x_ticks = _epoch_ticks([p[0] for p in points])
    y_ticks = nice_ticks(min(p[1] for p in points), max(p[1] for p in points))
    x0, x1, y0, y1 = x_ticks[0], x_ticks[-1], y_ticks[0], y_ticks[-1]

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * plot_w

    def sy(y: float) -> float:
        return top + plot_h - (y - y0) / (y1 - y0) * plot_h

    parts.append('<g class="grid">')
    for t in y_ticks:
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{sy(t):.1f}" y2="{sy(t):.1f}"/>')
        parts.append(f'<text class="tick" x="{left - 6}" y="{sy(t) + 4:.1f}" '
                     f'text-anchor="end">{_format_number(t)}</text>')
    for t in x_ticks:
        parts.append(f'<text class="tick" x="{sx(t):.1f}" y="{top + plot_h + 16}" '
                     f'text-anchor="middle">{_format_number(t)}</text>')
    parts.append(f'<rect class="frame" x="{left}" y="{top}" width="{plot_w}" height="{plot_h}"/>')
    parts.append("</g>")
    parts.append(f'<text class="axis-label" x="{left + plot_w / 2}" y="{height - 6}" '
                 f'text-anchor="middle">{esc(x_label)}</text>')
    if y_label:
        parts.append(f'<text class="axis-label" transform="translate(14 {top + plot_h / 2}) '
                     f'rotate(-90)" text-anchor="middle">{esc(y_label)}</text>')

    for index, (name, (xs, ys)) in enumerate(series.items()):
        color = CHART_COLORS[index % len(CHART_COLORS)]
        coords = [(sx(x), sy(y)) for x, y in zip(xs, ys)]
        parts.append(f'<g class="series" data-name="{esc(name)}" data-points="{len(coords)}">')
        if len(coords) > 1:
            path = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy in coords)
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" '
                         f'points="{path}"/>')
        if len(coords) <= 60:  # beyond that the dots hide the line
            for (cx, cy), x, y in zip(coords, xs, ys):
                parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3" fill="{color}">'
                             f"<title>{esc(name)}, epoch {_format_epoch(x)}: "
                             f"{_format_number(y)}</title></circle>")
        if mark_min and ys:  # lower is better: ring the best point and say where it was
            best = min(range(len(ys)), key=ys.__getitem__)
            cx, cy = coords[best]
            parts.append(f'<circle class="best" cx="{cx:.1f}" cy="{cy:.1f}" r="7" fill="none" '
                         f'stroke="{color}" stroke-width="2"/>')
            # Keep the label inside the plot when the best point sits near an edge.
            edge = (cx - left) / plot_w
            anchor = "end" if edge > 0.75 else "start" if edge < 0.25 else "middle"
            parts.append(f'<text class="best-label" x="{cx:.1f}" y="{cy - 11:.1f}" '
                         f'text-anchor="{anchor}">best {_format_number(ys[best])} '
                         f"(epoch {_format_epoch(xs[best])})</text>")
        legend_y = top + 8 + index * 19
        parts.append(f'<line x1="{left + plot_w + 12}" x2="{left + plot_w + 30}" '
                     f'y1="{legend_y}" y2="{legend_y}" stroke="{color}" stroke-width="3"/>')
        parts.append(f'<text class="legend" x="{left + plot_w + 36}" y="{legend_y + 4}">'
                     f"{esc(name)}</text>")
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def loss_groups(history: History) -> tuple[list[str], list[str], list[str]]:
    """Splits the loss columns into (generator totals, generator terms, discriminator).

    Discriminator columns start with "D_" (D_X_loss, D_Y_loss, D_loss, and the noise
    GAN's D_real/D_fake). The cycle, identity and perceptual terms get their own chart:
    near 1 beside totals near 10, they would draw as flat lines on the floor.
    """
    generator, terms, discriminator = [], [], []
    for column in history.columns:
        name = column.lower()
        if name in NON_LOSS_COLUMNS or not history.finite(column)[0]:
            continue
        if column.startswith("D_") or name.startswith("disc"):
            discriminator.append(column)
        elif any(term in name for term in ("cycle", "identity", "perceptual")):
            terms.append(column)
        else:
            generator.append(column)
    return generator, terms, discriminator


# ---- the page -----------------------------------------------------------------------

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
 color:#1d2330;background:#f6f7f9}
main{max-width:1180px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:30px 0 10px;
 border-bottom:1px solid #d8dce3;padding-bottom:4px}
.subtitle{color:#5b6475;margin:0 0 14px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:14px 0}
.card{background:#fff;border:1px solid #d8dce3;border-radius:6px;padding:8px 14px;min-width:120px}
.card b{display:block;font-size:18px}.card span{color:#5b6475;font-size:12px}
.warnings{background:#fff4e5;border:1px solid #f0b35b;border-radius:6px;padding:8px 14px}
.warnings li{margin:2px 0}
table{border-collapse:collapse;background:#fff;border:1px solid #d8dce3}
th,td{padding:3px 10px;border-bottom:1px solid #eceef2;text-align:left;vertical-align:top}
th{background:#eef0f4;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.config-wrap{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:0 18px}
.config-table{width:100%}
tr.changed td{background:#fff5cc;font-weight:600}tr.changed td.default{font-weight:400;color:#7a6a2c}
code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:13px}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:14px}
svg.chart{width:100%;height:auto;background:#fff;border:1px solid #d8dce3;border-radius:6px}
svg .chart-title{font-weight:600;font-size:15px;fill:#1d2330}
svg .tick,svg .legend,svg .axis-label,svg .best-label{font-size:12.5px;fill:#4a5263}
svg .best-label{font-weight:600}
svg .no-data{font-size:14px;fill:#8a92a3}
svg .grid line{stroke:#e5e8ee}svg .frame{fill:none;stroke:#b9bfca}
.samples{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}
figure{margin:0;background:#fff;border:1px solid #d8dce3;border-radius:6px;padding:8px}
figure{max-width:100%;box-sizing:border-box}
figure img{max-width:100%;height:auto;display:block}
figcaption{color:#5b6475;margin-top:4px}
.muted{color:#8a92a3}
footer{margin-top:36px;color:#8a92a3;font-size:12px}
"""

# Self-contained by construction: the browser may load nothing but data: images.
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _format_bytes(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"  # pragma: no cover


def _format_seconds(seconds: float) -> str:
    seconds = float(seconds)
    if seconds < 90:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def _pick_evenly(items: Sequence[Any], count: int) -> list[Any]:
    """`count` items spread evenly, always keeping the first and the last."""
    if count >= len(items):
        return list(items)
    if count == 1:
        return [items[0]]
    picks = sorted({round(i * (len(items) - 1) / (count - 1)) for i in range(count)})
    return [items[i] for i in picks]


def _budget_epochs(run: RunRecord) -> int | None:
    """The epochs a time budget was last planned to fit (history.csv's planned_epochs),
    or None for a run without a budget."""
    _, planned = run.history.finite("planned_epochs")
    return int(planned[-1]) if planned else None


def _summary_cards(run: RunRecord) -> str:
    history = run.history
    cards: list[tuple[str, str]] = []
    configured = run.config_value("epochs")
    budgeted = _budget_epochs(run)
    planned = budgeted if budgeted is not None else configured
    if history.epochs:
        done = _format_epoch(history.epochs[-1])
        cards.append((f"{done} / {planned}" if planned else done, "epochs done"))
    else:
        cards.append(("0" + (f" / {planned}" if planned else ""), "epochs done"))
    if budgeted is not None:
        cards.append((f"{budgeted} of {configured}" if configured else str(budgeted),
                      "epochs planned for the time budget"))
    _, seconds = history.finite("seconds")
    if seconds:
        cards.append((_format_seconds(sum(seconds)), "training time"))
        cards.append((_format_seconds(sum(seconds) / len(seconds)), "mean per epoch"))
    for column in ("mifid", "fid"):
        xs, ys = history.finite(column)
        if ys:
            best = min(range(len(ys)), key=ys.__getitem__)
            cards.append((_format_number(ys[best]),
                          f"best {column.upper() if column == 'fid' else 'MiFID'} "
                          f"(epoch {_format_epoch(xs[best])})"))
    if run.checkpoints:
        cards.append((str(len(run.checkpoints)), "checkpoints"))
    return '<div class="cards">' + "".join(
        f'<div class="card"><b>{html.escape(v)}</b><span>{html.escape(k)}</span></div>'
        for v, k in cards
    ) + "</div>"


def _config_section(run: RunRecord) -> str:
    rows = []
    for row in run.config:
        cls = ' class="changed"' if row.changed else ""
        default = _format_value(row.default) if row.changed and row.default is not None else ""
        rows.append(
            f'<tr{cls} data-key="{html.escape(row.key)}"><td><code>{html.escape(row.key)}</code>'
            f"</td><td><code>{html.escape(_format_value(row.value))}</code></td>"
            f'<td class="default"><code>{html.escape(default)}</code></td></tr>'
        )
    changed = sum(r.changed for r in run.config)
    # Two half-height tables side by side keep the 40-odd keys above the fold.
    half = (len(rows) + 1) // 2
    head = "<tr><th>key</th><th>value</th><th>default</th></tr>"
    tables = "".join(
        f'<table class="config-table">{head}{"".join(chunk)}</table>'
        for chunk in (rows[:half], rows[half:]) if chunk
    )
    return (
        f'<section id="config"><h2>Config</h2><p class="muted">{changed} of {len(rows)} keys '
        f"differ from the defaults (highlighted, default on the right).</p>"
        f'<div class="config-wrap">{tables}</div></section>'
    )


def _charts_section(run: RunRecord) -> str:
    history = run.history
    generator, terms, discriminator = loss_groups(history)
    charts = [
        line_chart_svg({c: history.finite(c) for c in generator},
                       title="Generator losses (G: photo→Monet, F: Monet→photo)"
                       if run.family == "cyclegan" else "Generator losses",
                       chart_id="chart-generator", y_label="loss"),
        line_chart_svg({c: history.finite(c) for c in discriminator},
                       # the noise GAN also logs D's mean outputs (D_real, D_fake)
                       title="Discriminator losses" if all(c.endswith("loss") for c in
                                                           discriminator) else "Discriminator",
                       chart_id="chart-discriminator", y_label="loss"),
    ]
    if terms:
        charts.append(line_chart_svg({c: history.finite(c) for c in terms},
                                     title="Cycle-consistency and identity terms",
                                     chart_id="chart-terms", y_label="loss"))
    for column, label in (("mifid", "MiFID (lower is better)"), ("fid", "FID")):
        if column in history.columns and history.finite(column)[0]:
            charts.append(line_chart_svg({label.split()[0]: history.finite(column)},
                                         title=label, chart_id=f"chart-{column}",
                                         y_label=label.split()[0], mark_min=True))
    if history.finite("lr")[0]:
        charts.append(line_chart_svg({"lr": history.finite("lr")}, title="Learning rate",
                                     chart_id="chart-lr", y_label="lr"))
    return (f'<section id="curves"><h2>Training curves</h2>'
            f'<div class="charts">{"".join(charts)}</div></section>')


def _samples_section(run: RunRecord, max_samples: int | None) -> str:
    readable = [s for s in run.samples if s.data is not None]
    if not readable:
        body = '<p class="muted">No sample grids yet (samples/epoch_NNN.png).</p>'
        return f'<section id="samples"><h2>Samples</h2>{body}</section>'
    shown = readable if max_samples is None else _pick_evenly(readable, max_samples)
    note = ""
    if len(shown) < len(readable):
        note = (f'<p class="muted">{len(shown)} of {len(readable)} epochs shown, evenly '
                f"spaced (--max-samples).</p>")
    figures = []
    for grid in shown:
        data = base64.b64encode(grid.data).decode("ascii")
        figures.append(
            f'<figure data-epoch="{grid.epoch}"><img src="data:{grid.mime};base64,{data}" '
            f'width="{grid.width}" height="{grid.height}" '
            f'alt="samples after epoch {grid.epoch}"><figcaption>epoch {grid.epoch} · '
            f"<code>{html.escape(grid.path.name)}</code> · {grid.width}×{grid.height}"
            f"</figcaption></figure>"
        )
    if run.family == "cyclegan":  # painter.train's layout: photos above gen_G's output
        note = ('<p class="muted">Each grid: the same fixed photos above their '
                "translations by gen_G (photo→Monet).</p>" + note)
    return (f'<section id="samples"><h2>Samples, newest first</h2>{note}'
            f'<div class="samples">{"".join(figures)}</div></section>')


PAINTINGS_PNG = "paintings.png"


def _paintings_section(run: RunRecord) -> str:
    """RUN_DIR/paintings.png, first when present (`painter demo` writes it: the photos,
    the pretrained stylizer's paintings of them, and the trained gen_G's)."""
    path = run.run_dir / PAINTINGS_PNG
    grid = _read_image(path, 0) if path.is_file() else None
    if grid is None or grid.data is None:
        return ""
    data = base64.b64encode(grid.data).decode("ascii")
    return (f'<section id="paintings"><h2>Paintings</h2><p class="muted">Rows: the photos, '
            f"the pretrained stylizer's paintings of them, the trained gen_G's.</p>"
            f'<figure><img src="data:{grid.mime};base64,{data}" width="{grid.width}" '
            f'height="{grid.height}" alt="photos, stylized, trained"><figcaption><code>'
            f"{PAINTINGS_PNG}</code></figcaption></figure></section>")


def _checkpoints_section(run: RunRecord) -> str:
    if not run.checkpoints:
        body = '<p class="muted">No checkpoints yet.</p>'
    else:
        scored = any(k.lower() in ("mifid", "fid") for c in run.checkpoints for k in c.metrics)
        rows = []
        for c in run.checkpoints:
            epoch = "" if c.epoch is None else str(c.epoch)
            if c.step_in_epoch:  # a time budget or Ctrl-C stopped inside the next epoch
                epoch += f" + {c.step_in_epoch} steps"
            step = "" if c.global_step is None else str(c.global_step)
            shown = {k: v for k, v in c.metrics.items() if k.lower() in ("mifid", "fid")}
            metrics = ", ".join(f"{k} {_format_number(v)}" for k, v in shown.items()
                                if isinstance(v, (int, float)))
            score = f"<td>{html.escape(metrics)}</td>" if scored else ""
            rows.append(
                f"<tr><td><code>{html.escape(c.name)}{'/' if c.is_dir else ''}</code></td>"
                f'<td class="num">{html.escape(epoch)}</td><td class="num">{step}</td>{score}'
                f'<td class="num">{_format_bytes(c.size_bytes)}</td>'
                f"<td>{c.modified:%Y-%m-%d %H:%M:%S}</td></tr>"
            )
        head = ("<tr><th>checkpoint</th><th>epoch</th><th>step</th>"
                + ("<th>score</th>" if scored else "") + "<th>size</th><th>written</th></tr>")
        body = f'<table id="checkpoint-table">{head}{"".join(rows)}</table>'
    return f'<section id="checkpoints"><h2>Checkpoints</h2>{body}</section>'


def _seconds_per_step(history: History) -> float | None:
    """Median over epochs of seconds ÷ steps; None when no epoch's steps are known.

    history's `step` is the global step at each epoch's end, so an epoch's steps are the
    difference from the row before. The median, because the first epoch (and the first
    after a resume) also pays for tracing and XLA compilation.
    """
    if "step" not in history.values or "seconds" not in history.values:
        return None
    rates = []
    previous_epoch, previous_step = 0.0, 0.0
    for epoch, step, seconds in zip(history.epochs, history.values["step"],
                                    history.values["seconds"]):
        if (step is not None and seconds is not None and math.isfinite(seconds)
                and epoch == previous_epoch + 1 and step > previous_step):
            rates.append(seconds / (step - previous_step))
        previous_epoch, previous_step = epoch, (step if step is not None else math.inf)
    return statistics.median(rates) if rates else None


def _timing_section(run: RunRecord) -> str:
    xs, seconds = run.history.finite("seconds")
    if not seconds:
        body = '<p class="muted">No epoch timings yet (history.csv column "seconds").</p>'
    else:
        total = sum(seconds)
        facts = [
            ("epochs timed", str(len(seconds))),
            ("total", _format_seconds(total)),
            ("mean per epoch", _format_seconds(total / len(seconds))),
            ("fastest epoch", f"{_format_seconds(min(seconds))} (epoch "
                              f"{_format_epoch(xs[seconds.index(min(seconds))])})"),
            ("slowest epoch", f"{_format_seconds(max(seconds))} (epoch "
                              f"{_format_epoch(xs[seconds.index(max(seconds))])})"),
        ]
        per_step = _seconds_per_step(run.history)
        if per_step is not None:
            batch = run.config_value("batch_size")
            facts.append(("seconds per step", f"{per_step:.3g} s (median"
                          + (f", global batch {batch})" if batch else ")")))
        planned = _budget_epochs(run) or run.config_value("epochs")
        if isinstance(planned, int) and planned > xs[-1]:
            left = (planned - xs[-1]) * total / len(seconds)
            facts.append(("estimated to finish", f"{_format_seconds(left)} "
                          f"({planned - int(xs[-1])} epochs at the mean)"))
        body = "<table>" + "".join(
            f'<tr><th>{html.escape(k)}</th><td class="num">{html.escape(v)}</td></tr>'
            for k, v in facts) + "</table>"
    stamps = []
    if run.started:
        stamps.append(f"config written {run.started:%Y-%m-%d %H:%M:%S}")
    if run.updated:
        stamps.append(f"last update {run.updated:%Y-%m-%d %H:%M:%S}")
    return (f'<section id="timing"><h2>Timing</h2>{body}'
            f'<p class="muted">{" · ".join(stamps)}</p></section>')


def render_report(run: RunRecord, *, max_samples: int | None = None) -> str:
    """The report page for `run` as one self-contained HTML string.

    Args:
        run: from `read_run`.
        max_samples: show at most this many sample grids, evenly spread over the run
            (first and newest always kept). Default None: all of them.
    """
    if max_samples is not None and max_samples < 1:
        raise UsageError(f"--max-samples must be at least 1. Received: max_samples={max_samples}")
    family = run.family
    if family == "cyclegan" and run.config_value("generator"):
        family = f"{family} · {run.config_value('generator')} generator"
    title = f"{run.name} · {family}"
    warnings = ""
    if run.warnings:
        items = "".join(f"<li>{html.escape(w)}</li>" for w in run.warnings)
        warnings = f'<div class="warnings" id="warnings"><b>Warnings</b><ul>{items}</ul></div>'
    generated = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)} — painter report</title>",
        f"<style>{_CSS}</style></head><body><main>",
        f"<h1>{html.escape(run.name)}</h1>",
        f'<p class="subtitle">{html.escape(family)} · <code>'
        f"{html.escape(str(run.run_dir.resolve()))}</code></p>",
        _paintings_section(run),
        _summary_cards(run),
        warnings,
        _charts_section(run),
        _samples_section(run, max_samples),
        _config_section(run),
        _checkpoints_section(run),
        _timing_section(run),
        f"<footer>painter report · generated {generated}</footer>",
        "</main></body></html>\n",
    ])


def write_report(
    run_dir: str | Path,
    out: str | Path | None = None,
    *,
    force: bool = False,
    max_samples: int | None = None,
) -> Path:
    """Writes the self-contained HTML report of a run; the front door of this module.

    Args:
        run_dir: a run directory written by `painter train` (must hold config.toml).
        out: the HTML file. Default None: `RUN_DIR/report.html`.
        force: replace an existing `out`. Default False (UsageError, file untouched).
        max_samples: see `render_report`. Default None: every sample grid.

    Returns:
        The path written (atomically: a reader never sees half a page).

    Raises:
        UsageError: `run_dir` is not a run, or `out` exists without `force`.
        DataError: the run's config.toml is not valid TOML.
    """
    out = Path(run_dir) / REPORT_NAME if out is None else Path(out)
    # Checked before reading the run, so a refused overwrite costs nothing.
    if out.exists() and not force:
        raise UsageError(f"{out} exists; pass --force to replace it")
    if out.is_dir():
        raise UsageError(f"{out} is a directory; --out takes a file name")
    page = render_report(read_run(run_dir), max_samples=max_samples)
    with atomic_path(out, force=force) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out
