"""A run's history: `history.csv` (one row per epoch) and its loss curves.

Rows are dicts; the CSV's columns are the union of their keys in order of appearance, so
an epoch hook may add a column (MiFID) from any epoch on; earlier rows leave it empty.

The curves are one matplotlib figure function, `history_figure`, drawn as `loss.png`
after every epoch (`plot_history`) and as inline SVG by `painter report`: the same
panels (`history_charts`), the same colours (`PALETTE`). Nothing here imports
TensorFlow; matplotlib is imported when a figure is drawn.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from painter.io import atomic_path
from painter.rundir import HISTORY_CSV

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Columns that are not losses: bookkeeping, MiFID tracking (mifid, fid and lr get panels
# of their own), the epochs a time budget plans.
NOT_LOSSES = frozenset({"epoch", "step", "steps", "seconds", "lr", "mifid", "fid", "distance",
                        "track_seconds", "planned_epochs", "mifid_raw", "mifid_ema", "stage"})
# One colour per series of a panel, in this order (matplotlib's tab10, red second so that
# G and F, the two generators, differ at a glance).
PALETTE = (
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
    "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22",
)
# Panels whose losses change meaning with a staged run's stage (a one-way stage's G_loss has
# no cycle term, its identity_loss one direction's): their lines break where a stage begins.
STAGED_PANELS = frozenset({"generator", "discriminator", "terms"})
# Beyond this many points per series the dots hide the line.
MAX_DOTS = 60


# ---- history.csv ------------------------------------------------------------------------


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
    """The rows of a history CSV (numbers as int/float, empty cells dropped); [] if absent.

    Tolerates what a live or crashed run leaves: a half-written last line loses its
    missing cells, and bytes that are not UTF-8 are replaced.
    """
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        for raw in csv.DictReader(f):
            row = {}
            for key, text in raw.items():
                if key is None or text is None or not text.strip():
                    continue
                row[key.strip()] = _parse(text.strip())
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


@dataclasses.dataclass(frozen=True)
class History:
    """History rows as columns of floats (None where a cell is empty or not a number).

    Rows are sorted by epoch; when a resumed run wrote an epoch twice, the later row wins.
    A row without an epoch counts as the next one when the history has no epoch column,
    and is skipped (with a warning) when it has one.

    Attributes:
        columns: the columns in order of first appearance, "epoch" included.
        epochs: the epoch of each row.
        values: column → one value per row (columns other than "epoch").
        warnings: what a reader should know: skipped rows, non-finite values.
    """

    columns: tuple[str, ...]
    epochs: tuple[float, ...]
    values: dict[str, tuple[float | None, ...]]
    warnings: tuple[str, ...] = ()

    @classmethod
    def from_rows(cls, rows: Sequence[dict]) -> History:
        """The columns of `rows` as `read_history` returns them (or training keeps them)."""
        names = tuple(columns(rows))
        warnings = []
        by_epoch: dict[float, dict[str, float | None]] = {}
        for index, row in enumerate(rows):
            epoch = _to_float(row.get("epoch"))
            if epoch is None:
                if "epoch" in names:
                    warnings.append(f"{HISTORY_CSV}: row {index + 1} has no epoch; skipped")
                    continue
                epoch = float(index + 1)
            by_epoch[epoch] = {c: _to_float(row.get(c)) for c in names}
        epochs = tuple(sorted(by_epoch))
        values = {c: tuple(by_epoch[e][c] for e in epochs) for c in names if c != "epoch"}
        for column, cells in values.items():
            bad = [e for e, v in zip(epochs, cells) if v is not None and not math.isfinite(v)]
            if bad:
                shown = ", ".join(format_epoch(e) for e in bad[:5])
                shown += " …" if len(bad) > 5 else ""
                warnings.append(f"{column} is not finite at epoch {shown}")
        return cls(names, epochs, values, tuple(warnings))

    def finite(self, column: str) -> tuple[list[float], list[float]]:
        """(epochs, values) of the rows where `column` holds a finite number."""
        xs, ys = [], []
        for x, y in zip(self.epochs, self.values.get(column, ())):
            if y is not None and math.isfinite(y):
                xs.append(x)
                ys.append(y)
        return xs, ys


def _to_float(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def format_number(value: float) -> str:
    """A number as a chart or a report shows it: 4 significant digits, 2.2e-4 when tiny."""
    if value == 0:
        return "0"
    if abs(value) >= 1e5 or abs(value) < 1e-3:
        mantissa, exponent = f"{value:.2e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"  # 2.2e-4, not 2.20e-04
    return f"{value:.4g}"


def format_epoch(epoch: float) -> str:
    """3, not 3.0; a fractional epoch as it is."""
    return str(int(epoch)) if float(epoch).is_integer() else f"{epoch:g}"


# ---- the loss curves --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Chart:
    """One panel of the loss curves.

    Attributes:
        key: what the panel shows ("generator", "discriminator", "terms", "mifid",
            "fid", "lr"); the report's chart ids are `chart-{key}`.
        title: the panel's heading.
        series: name → (epochs, values), finite numbers only (`History.finite`).
        mark_min: ring each series' lowest point and label it (MiFID: lower is better).
        marks: (epoch, label) of each vertical line drawn across the panel: where a
            staged run's next stage begins, after that epoch (`stage_marks`).
    """

    key: str
    title: str
    series: dict[str, tuple[Sequence[float], Sequence[float]]]
    mark_min: bool = False
    marks: tuple[tuple[float, str], ...] = ()


def loss_groups(history: History) -> tuple[list[str], list[str], list[str]]:
    """Splits the loss columns into (generator totals, generator terms, discriminator).

    Discriminator columns start with "D_" (D_X_loss, D_Y_loss, D_loss, and the noise
    GAN's D_real/D_fake). The cycle, identity and perceptual terms get their own panel:
    near 1 beside totals near 10, they would draw as flat lines on the floor.
    """
    generator, terms, discriminator = [], [], []
    for column in history.columns:
        name = column.lower()
        if name in NOT_LOSSES or not history.finite(column)[0]:
            continue
        if column.startswith("D_") or name.startswith("disc"):
            discriminator.append(column)
        elif any(term in name for term in ("cycle", "identity", "perceptual")):
            terms.append(column)
        else:
            generator.append(column)
    return generator, terms, discriminator


def stage_marks(history: History) -> tuple[tuple[float, str], ...]:
    """(epoch, "stage N") after each epoch where a staged run's stage changes (its
    "stage" column, `painter.train.cyclegan`); () for a run without stages."""
    epochs, stages = history.finite("stage")
    return tuple(
        (epochs[i - 1], f"stage {format_epoch(stages[i])}")
        for i in range(1, len(stages)) if stages[i] != stages[i - 1]
    )


def history_charts(history: History) -> list[Chart]:
    """The panels of a history: generator and discriminator losses (always, empty at
    first), the cycle/identity terms, MiFID and FID when tracked, the learning rate;
    each marks where a staged run's stages begin (`stage_marks`)."""
    charts = _charts(history)
    marks = stage_marks(history)
    return [dataclasses.replace(chart, marks=marks) for chart in charts] if marks else charts


def _charts(history: History) -> list[Chart]:
    generator, terms, discriminator = loss_groups(history)
    # G and F are CycleGAN's two generators; the names say which way each translates.
    two_way = {"G_loss", "F_loss"} <= set(generator)
    charts = [
        Chart("generator", "Generator losses (G: photo→Monet, F: Monet→photo)" if two_way
              else "Generator losses", {c: history.finite(c) for c in generator}),
        # The noise GAN also logs D's mean outputs (D_real, D_fake), which are not losses.
        Chart("discriminator", "Discriminator losses" if all(c.endswith("loss") for c in
                                                             discriminator) else "Discriminator",
              {c: history.finite(c) for c in discriminator}),
    ]
    if terms:
        charts.append(Chart("terms", "Cycle-consistency and identity terms",
                            {c: history.finite(c) for c in terms}))
    for column, name, title in (("mifid", "MiFID", "MiFID (lower is better)"),
                                ("fid", "FID", "FID")):
        if history.finite(column)[0]:
            series = {name: history.finite(column)}
            if column == "mifid":  # a run with a moving average scores both generators
                series.update({label: history.finite(c) for c, label in
                               (("mifid_ema", "EMA generator"), ("mifid_raw", "raw generator"))
                               if history.finite(c)[0]})
            charts.append(Chart(column, title, series, mark_min=True))
    if history.finite("lr")[0]:
        charts.append(Chart("lr", "Learning rate", {"lr": history.finite("lr")}))
    return charts


def history_figure(
    charts: Sequence[Chart],
    *,
    cols: int = 3,
    panel_size: tuple[int, int] = (420, 260),
    dpi: int = 100,
    font_size: float = 8.5,
) -> Figure:
    """The loss curves: one panel per chart, `cols` to a row, one line per series.

    Each panel has its own y range: a GAN's losses live on different scales. Series of
    up to `MAX_DOTS` points also get a dot per epoch; a `mark_min` chart rings and labels
    its lowest point. A chart without points says "no data yet".

    Args:
        charts: the panels, e.g. `history_charts(history)`.
        cols: panels per row (fewer when there are fewer charts). Default 3.
        panel_size: (width, height) of a panel in pixels at `dpi`. Default (420, 260).
        dpi: default 100.
        font_size: points. Default 8.5.

    Returns:
        A matplotlib `Figure` attached to no backend and no pyplot state: the caller
        renders it with a canvas (Agg for PNG, SVG for the report). Each series' line
        carries its name as its label, in the order of `chart.series`.
    """
    import matplotlib
    from matplotlib.figure import Figure

    if not charts:
        raise ValueError(f"history_figure needs at least one chart. Received: charts={charts!r}")
    width, height = panel_size
    if width < 100 or height < 60:
        raise ValueError(f"panel too small. Received: panel_size={panel_size}")
    cols = max(1, min(cols, len(charts)))
    rows = math.ceil(len(charts) / cols)
    style = {
        "font.size": font_size, "axes.titlesize": font_size + 1, "axes.titleweight": "bold",
        "axes.titlelocation": "left", "axes.spines.top": False,
        # A fixed title height: placing it above the tick labels measures them all.
        "axes.titley": 1.02, "axes.titlepad": 4, "axes.spines.right": False,
        "axes.grid": True, "grid.color": "#e5e8ee", "grid.linewidth": 0.8,
        "axes.edgecolor": "#b9bfca", "legend.fontsize": font_size - 0.5,
        "legend.frameon": False,
    }
    with matplotlib.rc_context(style):
        figure = Figure(figsize=(cols * width / dpi, rows * height / dpi), dpi=dpi)
        # Margins in pixels, from the font's size: small panels keep room for their tick
        # labels, and no layout engine measures every text on each redraw.
        font_px = font_size * dpi / 72
        left, right, bottom, top = 4 * font_px + 8, font_px + 4, 3 * font_px + 6, 2 * font_px + 6
        figure.subplots_adjust(
            left=left / (cols * width), right=1 - right / (cols * width),
            bottom=bottom / (rows * height), top=1 - top / (rows * height),
            wspace=(left + right) / (width - left - right),
            hspace=(bottom + top) / (height - bottom - top),
        )
        axes = figure.subplots(rows, cols, squeeze=False).ravel()
        for ax, chart in zip(axes, charts):
            _draw_chart(ax, chart)
        for ax in axes[len(charts):]:
            ax.set_visible(False)
    return figure


def _draw_chart(ax, chart: Chart) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.set_title(chart.title)  # says what the y axis is, so the axis needs no label
    ax.set_xlabel("epoch")
    xs_all = [x for xs, _ in chart.series.values() for x in xs]
    if not xs_all:
        ax.text(0.5, 0.5, "no data yet", transform=ax.transAxes, ha="center", va="center",
                color="#8a92a3")
        ax.set_xticks([])
        ax.set_yticks([])
        return
    for index, (name, (xs, ys)) in enumerate(chart.series.items()):
        color = PALETTE[index % len(PALETTE)]
        line_xs, line_ys = (_break_at(xs, ys, chart.marks) if chart.key in STAGED_PANELS
                            else (xs, ys))
        ax.plot(line_xs, line_ys, color=color, linewidth=1.6, label=name,
                marker="o" if len(xs) <= MAX_DOTS else None, markersize=3)
        if chart.mark_min and ys:
            best = min(range(len(ys)), key=ys.__getitem__)
            ax.plot([xs[best]], [ys[best]], marker="o", markersize=10, markerfacecolor="none",
                    markeredgecolor=color, markeredgewidth=1.5, linestyle="none",
                    label="_best")
            # Keep the label inside the panel when the best point sits near an edge.
            low, high = min(xs_all), max(xs_all)
            edge = (xs[best] - low) / (high - low) if high > low else 0.5
            ax.annotate(f"best {format_number(ys[best])} (epoch {format_epoch(xs[best])})",
                        (xs[best], ys[best]), xytext=(0, 9), textcoords="offset points",
                        ha="right" if edge > 0.75 else "left" if edge < 0.25 else "center",
                        fontweight="bold", color="#4a5263")
    for epoch, label in chart.marks:
        ax.axvline(epoch, color="#8a92a3", linestyle="--", linewidth=1, label="_stage")
        ax.text(epoch, 1.0, f" {label}", transform=ax.get_xaxis_transform(), ha="left",
                va="top", color="#4a5263", fontsize="small")
    low, high = min(xs_all), max(xs_all)
    if low == high:  # one epoch: centre it rather than zoom onto nothing
        ax.set_xlim(low - 1, high + 1)
    # Few ticks: each costs a text layout on every redraw.
    whole_epochs = all(float(x).is_integer() for x in xs_all)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=whole_epochs))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=4))
    ax.yaxis.set_major_formatter(lambda value, _: format_number(value))  # 2e-4, not 0.00020
    ax.margins(y=0.15 if chart.mark_min else 0.08)  # room for the best point's label
    if len(chart.series) > 1:
        ax.legend(loc="upper right")


def _break_at(xs, ys, marks) -> tuple[list, list]:
    """The points with a gap (NaN) wherever a mark falls between two of them."""
    out_xs, out_ys = [], []
    for i, (x, y) in enumerate(zip(xs, ys)):
        if i and any(xs[i - 1] <= epoch < x for epoch, _ in marks):
            out_xs.append(xs[i - 1])
            out_ys.append(math.nan)
        out_xs.append(x)
        out_ys.append(y)
    return out_xs, out_ys


def plot_history(
    rows: Sequence[dict], path: str | os.PathLike, *, panel_size=(420, 260), cols: int = 3
) -> Path:
    """Draws the loss curves of `rows` (`history_charts`) as a PNG, atomically.

    Training rewrites it after every epoch, so it is drawn with matplotlib's Agg canvas
    directly: no pyplot, no display, nothing kept between calls.

    Args:
        rows: the history rows (`read_history`).
        path: the PNG to write.
        panel_size: (width, height) of a panel in pixels. Default (420, 260).
        cols: panels per row. Default 3.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figure = history_figure(history_charts(History.from_rows(rows)), cols=cols,
                            panel_size=panel_size)
    with atomic_path(path, force=True) as temp:
        FigureCanvasAgg(figure).print_png(temp)
    return Path(path)
