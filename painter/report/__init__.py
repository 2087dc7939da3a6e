"""`painter report`: one self-contained HTML page about a training run.

The page is built from what `painter train` leaves in its run directory (the layout:
`painter.rundir`) and tolerates whatever is missing (a run still in its first epoch has
no samples; MiFID is a column only when tracked).

Layers: `read` (files → `RunRecord`) ← `charts` (the loss curves of
`painter.train.history.history_figure` as inline SVG) ← `page` (record → HTML;
`write_report`, the front door, writes it atomically). Nothing here imports TensorFlow.
"""

from painter.report.charts import chart_svg, line_chart_svg
from painter.report.page import REPORT_NAME, render_report, write_report
from painter.report.read import PAINTINGS_PNG, RunRecord, read_run

__all__ = [
    "PAINTINGS_PNG",
    "REPORT_NAME",
    "RunRecord",
    "chart_svg",
    "line_chart_svg",
    "read_run",
    "render_report",
    "write_report",
]
