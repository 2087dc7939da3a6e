"""The report page: a `RunRecord` as one self-contained HTML string, and the front door.

Everything is inlined (images as base64 data URIs, CSS in a <style>, charts as inline
SVG) and a Content-Security-Policy forbids every network fetch, so the file can be mailed,
attached to a Kaggle dataset or opened offline.
"""

from __future__ import annotations

import base64
import datetime
import html
import math
import os
import statistics
from pathlib import Path
from typing import Any, Sequence

from painter.errors import UsageError
from painter.families import FAMILIES
from painter.io import atomic_path
from painter.report.charts import chart_svg
from painter.report.read import PAINTINGS_PNG, RunRecord, read_image, read_run
from painter.train.history import History, format_epoch, format_number, history_charts

REPORT_NAME = "report.html"

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


def _ema_decay(run: RunRecord) -> float:
    """The run's `ema_decay` (0 without a moving average of its generator)."""
    value = run.config_value("ema_decay", 0.0)
    return float(value) if isinstance(value, (int, float)) else 0.0


def _summary_cards(run: RunRecord) -> str:
    history = run.history
    cards: list[tuple[str, str]] = []
    configured = run.config_value("epochs")
    budgeted = _budget_epochs(run)
    planned = budgeted if budgeted is not None else configured
    if history.epochs:
        done = format_epoch(history.epochs[-1])
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
            cards.append((format_number(ys[best]),
                          f"best {column.upper() if column == 'fid' else 'MiFID'} "
                          f"(epoch {format_epoch(xs[best])})"))
    if _ema_decay(run):
        cards.append((f"{_ema_decay(run):g}", "EMA decay of the generator"))
    if run.parent and isinstance(run.parent.get("mifid"), (int, float)):
        cards.append((format_number(run.parent["mifid"]), "the parent's MiFID at the restart"))
    if run.checkpoints:
        cards.append((str(len(run.checkpoints)), "checkpoints"))
    trained_on = run.trained_on or {}
    if trained_on.get("backend"):
        devices = trained_on.get("devices")
        cards.append((str(trained_on["backend"]), "Keras backend" + (
            f" ({devices} device{'s' if devices != 1 else ''})"
            if isinstance(devices, int) else "")))
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
    charts = "".join(chart_svg(chart, f"chart-{chart.key}")
                     for chart in history_charts(run.history))
    return (f'<section id="curves"><h2>Training curves</h2>'
            f'<div class="charts">{charts}</div></section>')


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
    family = FAMILIES.get(run.family)
    if family is not None and family.sample_grid_caption:
        note = f'<p class="muted">{html.escape(family.sample_grid_caption)}</p>' + note
    if _ema_decay(run):
        note = (f'<p class="muted">Drawn by the generator\'s moving average (ema_decay '
                f"{_ema_decay(run):g}), which tracking and generate use too.</p>") + note
    return (f'<section id="samples"><h2>Samples, newest first</h2>{note}'
            f'<div class="samples">{"".join(figures)}</div></section>')


def _paintings_section(run: RunRecord) -> str:
    """RUN_DIR/paintings.png, first when present (`painter demo` writes it: the photos,
    the pretrained stylizer's paintings of them, and the trained gen_G's)."""
    path = run.run_dir / PAINTINGS_PNG
    grid = read_image(path) if path.is_file() else None
    if grid is None or grid.data is None:
        return ""
    data = base64.b64encode(grid.data).decode("ascii")
    return (f'<section id="paintings"><h2>Paintings</h2><p class="muted">Rows: the photos, '
            f"the pretrained stylizer's paintings of them, the trained gen_G's.</p>"
            f'<figure><img src="data:{grid.mime};base64,{data}" width="{grid.width}" '
            f'height="{grid.height}" alt="photos, stylized, trained"><figcaption><code>'
            f"{PAINTINGS_PNG}</code></figcaption></figure></section>")


def _parent_section(run: RunRecord) -> str:
    """Where a restarted run started: the parent run (a link to its report.html beside
    this one's), its checkpoint, epoch and tracked MiFID."""
    parent = run.parent
    if not parent:
        return ""
    path = Path(str(parent.get("parent", "")))
    try:
        link = os.path.relpath(path / REPORT_NAME, run.run_dir.resolve())
    except ValueError:  # another drive
        link = (path / REPORT_NAME).as_uri() if path.is_absolute() else str(path)
    facts = [f"checkpoint <code>{html.escape(str(parent.get('checkpoint', '?')))}</code>"]
    if isinstance(parent.get("epoch"), int):
        facts.append(f"epoch {parent['epoch']}")
    if isinstance(parent.get("global_step"), int):
        facts.append(f"step {parent['global_step']}")
    if isinstance(parent.get("mifid"), (int, float)):
        facts.append(f"MiFID {format_number(parent['mifid'])}")
    if parent.get("generator_weights") == "ema":
        facts.append("its generator's moving average")
    return (
        f'<section id="parent"><h2>Restarted from</h2><p>'
        f'<a href="{html.escape(link)}">{html.escape(path.name or str(path))}</a> '
        f"(<code>{html.escape(str(path))}</code>): {', '.join(facts)}. Its weights, not "
        f"its optimizers: the learning-rate schedule started afresh.</p></section>"
    )


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
            metrics = ", ".join(f"{k} {format_number(v)}" for k, v in shown.items()
                                if isinstance(v, (int, float)))
            if c.generator_weights == "ema" and metrics:
                metrics += " (EMA generator)"
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
                              f"{format_epoch(xs[seconds.index(min(seconds))])})"),
            ("slowest epoch", f"{_format_seconds(max(seconds))} (epoch "
                              f"{format_epoch(xs[seconds.index(max(seconds))])})"),
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
    known = FAMILIES.get(family)
    for field in known.summary_fields if known else ():
        if run.config_value(field):
            family = f"{family} · {run.config_value(field)} {field}"
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
        _parent_section(run),
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
