"""The report's charts: `painter.train.history`'s loss-curve figure as inline SVG.

One chart per `<svg>`, so that the page's grid lays them out side by side. matplotlib's
SVG is made fit for inlining into HTML: no XML prolog or metadata, a `viewBox` without a
fixed size (the chart scales with the page), text as `<text>` rather than glyph outlines
(searchable, a tenth of the size), and each series' group marked
`class="series" data-name=… data-points=…` for scripts and tests that read the page.
Everything stays inside the element: no fonts or images are fetched.
"""

from __future__ import annotations

import html
import io
import re
from typing import Sequence

from painter.train.history import Chart, history_figure

# The pixel size of a chart, before the page scales it.
CHART_SIZE = (640, 300)
_SVG_OPEN = re.compile(r"<svg\b[^>]*>")
_VIEWBOX = re.compile(r'viewBox="([^"]+)"')


def chart_svg(chart: Chart, chart_id: str, *, size: tuple[int, int] = CHART_SIZE) -> str:
    """One chart as an inline `<svg class="chart" id=chart_id>` element.

    Args:
        chart: the panel (`painter.train.history.history_charts`).
        chart_id: the svg element's id (unique in the page).
        size: (width, height) in pixels. Default `CHART_SIZE`.

    Returns:
        The `<svg>` element as a string. A chart without points still draws, saying
        "no data yet", so the page layout never depends on the run's progress.
    """
    import matplotlib
    from matplotlib.backends.backend_svg import FigureCanvasSVG

    figure = history_figure([chart], cols=1, panel_size=size, font_size=10)
    lines = [line for line in figure.axes[0].get_lines() if not line.get_label().startswith("_")]
    for index, line in enumerate(lines):
        line.set_gid(f"{chart_id}-series-{index}")
    buffer = io.StringIO()
    # Text as <text> elements; element ids (clip paths, markers) salted at random, so
    # that the page's several charts never share one.
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": None}):
        FigureCanvasSVG(figure).print_svg(buffer, metadata={"Date": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, count=1, flags=re.S)
    view_box = _VIEWBOX.search(svg).group(1)
    svg = _SVG_OPEN.sub(
        f'<svg class="chart" id="{html.escape(chart_id)}" xmlns="http://www.w3.org/2000/svg" '
        f'xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="{view_box}" role="img" '
        f'aria-label="{html.escape(chart.title)}">', svg, count=1)
    for index, (name, (xs, _)) in enumerate(chart.series.items()):
        svg = svg.replace(
            f'<g id="{chart_id}-series-{index}">',
            f'<g id="{chart_id}-series-{index}" class="series" data-name="{html.escape(name)}" '
            f'data-points="{len(xs)}">', 1)
    return svg.strip()


def line_chart_svg(
    series: dict[str, tuple[Sequence[float], Sequence[float]]],
    *,
    title: str,
    chart_id: str,
    mark_min: bool = False,
    width: int = CHART_SIZE[0],
    height: int = CHART_SIZE[1],
) -> str:
    """An inline SVG line chart of any series, drawn as the loss curves are.

    Args:
        series: name → (xs, ys), finite numbers only (see `History.finite`).
        title: the chart's heading, also its accessible label.
        chart_id: the svg element's id.
        mark_min: ring each series' lowest point and label it. Default False.
        width: pixels. Default 640 (the chart scales with the page).
        height: pixels. Default 300.
    """
    if width < 200 or height < 120:
        raise ValueError(f"chart too small. Received: width={width}, height={height}")
    chart = Chart(chart_id, title, dict(series), mark_min)
    return chart_svg(chart, chart_id, size=(width, height))
