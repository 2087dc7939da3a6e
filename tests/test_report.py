"""`painter report`: the HTML page of a run, checked as text and rendered in headless
Chromium (Debian's `chromium`; those tests skip with a reason when it is absent)."""

from __future__ import annotations

import base64
import hashlib
import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import chromium
from painter.config import CycleGANConfig, NoiseGANConfig, config_to_toml
from painter.report import line_chart_svg, read_run, render_report, write_report
from painter.train.history import History, format_number, read_history

# As painter.train writes them: bookkeeping first, then the model's metrics.
HISTORY_COLUMNS = ("epoch", "step", "seconds", "lr", "G_loss", "F_loss", "D_X_loss",
                   "D_Y_loss", "cycle_loss", "identity_loss")
STEPS_PER_EPOCH = 10
CHANGED = {"image_size": 128, "gen_filters": 16, "residual_blocks": 6, "epochs": 8,
           "track_mifid": True}


def _grid_png(path: Path, epoch: int, tiles: int = 3, tile: int = 48) -> None:
    """A 2-row grid like the trainer's (photos over fakes), different per epoch."""
    rng = np.random.default_rng(epoch)
    ys, xs = np.mgrid[0:tile, 0:tile] / tile
    row = []
    for t in range(tiles):
        base = rng.uniform(0.2, 0.8, size=3)
        img = np.stack([base[0] + 0.2 * xs, base[1] + 0.2 * ys, base[2] + 0.1 * xs * ys], -1)
        row.append(img)
    top = np.concatenate(row, axis=1)
    bottom = np.clip(top[:, :, ::-1] * (0.5 + 0.1 * epoch), 0, 1)
    grid = (np.concatenate([top, bottom], axis=0) * 255).astype(np.uint8)
    Image.fromarray(grid).save(path)


def make_run(root: Path, *, epochs: int = 4, mifid_epochs=(2, 4), samples: int | None = None,
             nan_epoch: int | None = None) -> Path:
    """A realistic CycleGAN run directory as `painter train` writes it."""
    run = root / "monet-resnet"
    (run / "samples").mkdir(parents=True)
    (run / "config.toml").write_text(config_to_toml(CycleGANConfig(**CHANGED)))
    columns = HISTORY_COLUMNS + (("mifid",) if mifid_epochs else ())
    lines = [",".join(columns)]
    for e in range(1, epochs + 1):
        g = 8.0 / e + 1.0
        row = [e, STEPS_PER_EPOCH * e, 61.5 + e, 2e-4 if e <= 4 else 2e-4 * (8 - e) / 4,
               g, g * 1.1, 0.25 - 0.01 * e, 0.24 - 0.012 * e, 5.0 / e, 2.5 / e]
        if nan_epoch == e:
            row[4] = float("nan")
        if mifid_epochs:
            row.append(120.0 - 10 * e if e in mifid_epochs else "")
        lines.append(",".join(str(v) for v in row))
    (run / "history.csv").write_text("\n".join(lines) + "\n")
    for e in range(1, (epochs if samples is None else samples) + 1):
        _grid_png(run / "samples" / f"epoch_{e:03d}.png", e)
    # painter.train's format: one folder per checkpoint with a manifest; `best` is kept
    # by the MiFID hook.
    for name, epoch, metrics in ((f"step_{STEPS_PER_EPOCH * epochs:08d}", epochs, {}),
                                 ("best", 2, {"mifid": 100.0})):
        ckpt = run / "checkpoints" / name
        ckpt.mkdir(parents=True)
        (ckpt / "gen_G.weights.h5").write_bytes(b"\0" * 4096)
        manifest = {"format": "painter-checkpoint", "family": "cyclegan", "epoch": epoch,
                    "step_in_epoch": 0, "global_step": STEPS_PER_EPOCH * epoch,
                    "metrics": metrics}
        (ckpt / "manifest.json").write_text(json.dumps(manifest))
    (run / "checkpoints" / ".step_00000050.x1.tmp").mkdir()  # an interrupted write
    return run


class _PageParser(html.parser.HTMLParser):
    """Collects what the assertions need from the report's HTML."""

    def __init__(self):
        super().__init__()
        self.title, self._in_title = "", False
        self.images, self.charts, self.series, self.changed, self.figures = [], [], {}, [], []
        self._chart = None
        self.external = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "title":
            self._in_title = True
        if tag == "img":
            self.images.append(a)
        if tag == "svg" and "chart" in a.get("class", ""):
            self._chart = a["id"]
            self.charts.append(a["id"])
        if tag == "g" and a.get("class") == "series":
            self.series[(self._chart, a["data-name"])] = int(a["data-points"])
        if tag == "tr" and a.get("class") == "changed":
            self.changed.append(a["data-key"])
        if tag == "figure":
            self.figures.append(int(a["data-epoch"]))
        for key in ("src", "href"):
            if key in a and not a[key].startswith("data:"):
                self.external.append(a[key])

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data


def _parse(path: Path) -> _PageParser:
    parser = _PageParser()
    parser.feed(path.read_text())
    return parser


# ---- content ------------------------------------------------------------------------


def test_report_holds_config_curves_samples_and_checkpoints(tmp_path):
    run = make_run(tmp_path, epochs=4, mifid_epochs=(2, 4))
    out = write_report(run)
    assert out == run / "report.html"
    page = _parse(out)
    assert page.title.startswith("monet-resnet · cyclegan · resnet generator")
    # Exactly the non-defaults are highlighted.
    assert sorted(page.changed) == sorted(CHANGED)
    # G/F, D, the cycle/identity terms apart (another scale), MiFID because the column
    # exists, lr because it is logged.
    assert page.charts == ["chart-generator", "chart-discriminator", "chart-terms",
                           "chart-mifid", "chart-lr"]
    assert page.series[("chart-generator", "G_loss")] == 4
    assert page.series[("chart-terms", "cycle_loss")] == 4
    assert page.series[("chart-discriminator", "D_Y_loss")] == 4
    assert ("chart-generator", "D_X_loss") not in page.series
    assert page.series[("chart-mifid", "MiFID")] == 2  # tracked epochs only
    # Newest sample first; every image inlined and decodable to its PNG's size.
    assert page.figures == [4, 3, 2, 1]
    assert page.external == []
    for img, epoch in zip(page.images, page.figures):
        data = base64.b64decode(img["src"].split(",", 1)[1])
        assert data == (run / "samples" / f"epoch_{epoch:03d}.png").read_bytes()
    text = out.read_text()
    table = re.search(r'<table id="checkpoint-table">(.*?)</table>', text).group(1)
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in table.split("</tr>")[1:-1]]
    assert [[re.sub("<.*?>", "", c) for c in r[:4]] for r in rows] == [
        ["step_00000040/", "4", "40", ""], ["best/", "2", "20", "mifid 100"]]
    # Epochs of 10 steps taking 62.5, 63.5, 64.5, 65.5 s: the median is 6.4 s a step.
    assert "seconds per step</th><td class=\"num\">6.4 s (median, global batch 4)" in text
    assert "best 80 (epoch 4)" in text  # MiFID 120 - 10 e, lowest at epoch 4, is marked
    assert "4m" in text  # total time of 4 epochs of ~63 s


def test_report_of_a_run_that_just_started(tmp_path):
    run = tmp_path / "fresh"
    run.mkdir()
    (run / "config.toml").write_text(config_to_toml(NoiseGANConfig(batch_size=8)))
    out = write_report(run, tmp_path / "fresh.html")
    page = _parse(out)
    assert "noise_gan" in page.title
    assert page.changed == ["batch_size"]
    assert page.charts == ["chart-generator", "chart-discriminator"]  # no MiFID, no lr
    assert page.images == []
    text = out.read_text()
    assert "no data yet" in text and "No sample grids yet" in text and "No checkpoints" in text


def test_noise_gan_run_charts_its_own_columns(tmp_path):
    run = tmp_path / "noise"
    run.mkdir()
    (run / "config.toml").write_text(config_to_toml(NoiseGANConfig()))
    (run / "history.csv").write_text(
        "epoch,step,seconds,lr,G_loss,D_loss,D_real,D_fake\n"
        "1,20,30.0,0.0001,0.9,1.3,0.6,0.4\n2,40,29.0,0.0001,1.1,1.2,0.7,0.3\n")
    parser = _PageParser()
    page = render_report(read_run(run))
    parser.feed(page)
    assert parser.charts == ["chart-generator", "chart-discriminator", "chart-lr"]
    assert [k[1] for k in parser.series if k[0] == "chart-discriminator"] == [
        "D_loss", "D_real", "D_fake"]
    assert ">Discriminator</text>" in page  # not "losses": D_real/D_fake are outputs
    assert parser.changed == []
    assert "photo→Monet" not in page


def test_nan_rows_resumed_epochs_and_a_half_written_line(tmp_path):
    run = make_run(tmp_path, epochs=5, mifid_epochs=(), nan_epoch=5)
    with open(run / "history.csv", "a") as f:
        f.write("3,30,70.0,2e-4,1.0,1.0,0.1,0.1,1.0,0.5\n")  # epoch 3 again, after a resume
        f.write("6,60,70.0,2e-4,2.0,2.")  # the trainer was killed mid-write
    history = History.from_rows(read_history(run / "history.csv"))
    warnings = list(history.warnings)
    assert history.epochs == (1, 2, 3, 4, 5, 6)
    assert history.values["G_loss"][2] == 1.0  # the later epoch-3 row wins
    assert history.values["D_X_loss"][5] is None  # the cut-off cells are empty
    assert history.finite("G_loss")[0] == [1, 2, 3, 4, 6]  # NaN at 5 is a gap
    assert warnings == ["G_loss is not finite at epoch 5"]
    page = render_report(read_run(run))
    assert "G_loss is not finite at epoch 5" in page
    assert 'id="chart-mifid"' not in page


def test_unreadable_sample_is_a_warning_not_a_broken_image(tmp_path):
    run = make_run(tmp_path, epochs=3)
    png = (run / "samples" / "epoch_002.png").read_bytes()
    (run / "samples" / "epoch_002.png").write_bytes(png[: len(png) // 2])  # truncated
    page = render_report(read_run(run))
    assert "samples/epoch_002.png: unreadable" in page
    assert page.count("<img ") == 2


def test_max_samples_spreads_over_the_run(tmp_path):
    run = make_run(tmp_path, epochs=9)
    parser = _PageParser()
    parser.feed(render_report(read_run(run), max_samples=3))
    assert parser.figures == [9, 5, 1]


def _series_lines(page: str) -> dict[tuple[str, str], int]:
    """(chart id, series name) → the vertices of the series' line, read from the SVG
    path that matplotlib drew (the first element of each series' group)."""
    found = {}
    for chart_id, body in re.findall(r'<svg class="chart" id="([\w-]+)"(.*?)</svg>', page, re.S):
        for name, points, d in re.findall(
                r'class="series" data-name="([^"]+)" data-points="(\d+)">\s*<path d="([^"]*)"',
                body):
            vertices = len(re.findall(r"[ML] ", d))
            assert vertices == int(points), (chart_id, name, d)
            found[(chart_id, name)] = vertices
    return found


def test_report_of_a_run_that_train_wrote(tiny_run, tmp_path):
    # tiny_run: one epoch of one step, untracked, as `painter.train.train` leaves it.
    out = write_report(tiny_run, tmp_path / "report.html")
    text = out.read_text()
    page = _parse(out)
    with open(tiny_run / "history.csv") as f:
        header = f.readline().strip().split(",")
        epochs = len(f.readlines())
    losses = [c for c in header if c.endswith("_loss")]
    assert {"G_loss", "F_loss", "D_X_loss", "D_Y_loss", "cycle_loss"} <= set(losses)
    assert page.charts[:2] == ["chart-generator", "chart-discriminator"]
    assert "chart-mifid" not in page.charts  # not tracked, so no MiFID chart or column
    lines = _series_lines(text)
    # Every loss column is one series with one line path, in one chart, a vertex per epoch.
    assert sorted(name for _, name in lines if name.endswith("_loss")) == sorted(losses)
    assert all(count == epochs for count in lines.values())
    assert lines[("chart-discriminator", "D_X_loss")] == epochs
    # The sample grid the run wrote, embedded byte for byte.
    assert page.figures == [1]
    (grid,) = [i for i in page.images if "samples after epoch" in i.get("alt", "")]
    assert base64.b64decode(grid["src"].split(",", 1)[1]) == (
        tiny_run / "samples" / "epoch_001.png").read_bytes()
    assert page.external == []
    table = re.search(r'<table id="checkpoint-table">(.*?)</table>', text).group(1)
    assert re.search(r"<code>step_\d+/</code></td><td class=\"num\">1</td>", table)
    # loss.png, drawn by the same figure function: one panel per chart of the report,
    # three to a row, 420×260 pixels each.
    rows = -(-len(page.charts) // 3)
    assert Image.open(tiny_run / "loss.png").size == (420 * min(3, len(page.charts)), 260 * rows)


@pytest.mark.slow
def test_report_of_a_tracked_run_shows_mifid_and_best(tmp_path, sample_dir, monkeypatch):
    """A run that tracked MiFID (with a cheap stand-in for the FID Inception) has a MiFID
    chart with its best epoch marked, a best-MiFID card and the `best` checkpoint's score."""
    import functools
    import shutil as _shutil

    from conftest import tiny_cyclegan
    from painter.train import tracking
    from painter.train.run import train

    def colour_features(images):  # per-channel means and deviations: moves with training
        x = images.astype(np.float64) / 255.0
        return np.concatenate([x.mean(axis=(1, 2)), x.std(axis=(1, 2))], axis=1)

    monkeypatch.setattr(tracking, "prepare_tracking",
                        functools.partial(tracking.prepare_tracking, features=colour_features))
    data = tmp_path / "data"
    for domain in ("photo_jpg", "monet_jpg"):
        _shutil.copytree(sample_dir / domain, data / domain)
    config = tiny_cyclegan(epochs=2, steps_per_epoch=1, track_mifid=True, track_every=1,
                           track_photos=6)
    run = tmp_path / "run"
    train(config, data=data, out=run, strategy="cpu", log=None, progress=False)
    scores = {row["epoch"]: row["mifid"] for row in read_history(run / "history.csv")}
    best_epoch = min(scores, key=scores.get)

    text = render_report(read_run(run))
    parser = _PageParser()
    parser.feed(text)
    assert "chart-mifid" in parser.charts
    assert _series_lines(text)[("chart-mifid", "MiFID")] == len(scores)
    mifid_chart = re.search(r'<svg class="chart" id="chart-mifid".*?</svg>', text, re.S).group(0)
    assert f"(epoch {best_epoch})</text>" in mifid_chart  # the best point is labelled
    assert f"best MiFID (epoch {best_epoch})" in text  # and has a card
    table = re.search(r'<table id="checkpoint-table">(.*?)</table>', text).group(1)
    best_row = re.search(r"<code>best/</code>(.*?)</tr>", table).group(1)
    assert f"<td>mifid {format_number(scores[best_epoch])}" in best_row


def test_report_needs_no_tensorflow(tmp_path):
    run = make_run(tmp_path)
    code = ("import sys; from painter.report import write_report; "
            f"write_report({str(run)!r}); "
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"
    assert (run / "report.html").is_file()


def test_line_chart_maps_values_into_the_plot():
    svg = line_chart_svg({"a": ([1, 2, 3], [3.0, 1.0, 2.0])}, title="t", chart_id="c")
    series = re.search(r'<g id="c-series-0" class="series" data-name="a" data-points="3">'
                       r"(.*?)</g>\s*</g>", svg, re.S).group(1)
    dots = [tuple(map(float, m)) for m in
            re.findall(r'<use xlink:href="#\w+" x="([\d.]+)" y="([\d.]+)"', series)]
    assert len(dots) == 3
    assert [d[0] for d in dots] == sorted(d[0] for d in dots)  # epochs left to right
    assert dots[1][1] > dots[2][1] > dots[0][1]  # y=1 lowest, y=3 highest on screen
    assert "no data yet" in line_chart_svg({}, title="t", chart_id="c")
    with pytest.raises(ValueError, match="Received: width=10"):
        line_chart_svg({}, title="t", chart_id="c", width=10)


# ---- the command and its errors -----------------------------------------------------


def test_cli_writes_and_refuses_to_overwrite(tmp_path, run_cli):
    run = make_run(tmp_path)
    out = tmp_path / "r.html"
    code, stdout, _ = run_cli("report", run, "--out", out)
    assert code == 0 and f"wrote {out}" in stdout
    out.write_text("keep me")
    code, _, err = run_cli("report", run, "--out", out)
    assert code == 2
    assert err == f"error: {out} exists; pass --force to replace it\n"
    assert out.read_text() == "keep me"
    code, _, _ = run_cli("report", run, "--out", out, "--force")
    assert code == 0 and out.read_text().startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_cli_rejects_a_directory_that_is_not_a_run(tmp_path, run_cli):
    not_run = tmp_path / "photos"
    not_run.mkdir()
    code, _, err = run_cli("report", not_run)
    assert code == 2
    assert err == f"error: {not_run}: not a run directory (no config.toml)\n"
    assert list(not_run.iterdir()) == []
    code, _, err = run_cli("report", tmp_path / "missing")
    assert code == 2 and err == f"error: {tmp_path / 'missing'}: no such run directory\n"
    run = make_run(tmp_path)
    code, _, err = run_cli("report", run, "--out", not_run, "--force")  # a folder as --out
    assert code == 2 and err == f"error: {not_run} is a directory; --out takes a file name\n"
    assert list(not_run.iterdir()) == []


def test_cli_bad_config_toml_is_one_line_exit_1(tmp_path, run_cli):
    run = make_run(tmp_path)
    (run / "config.toml").write_text("image_size = = 3\n")
    code, _, err = run_cli("report", run)
    assert code == 1
    assert err.startswith(f"error: {run / 'config.toml'}: invalid TOML") and err.count("\n") == 1
    assert not (run / "report.html").exists()


def test_cli_bad_max_samples(tmp_path, run_cli):
    run = make_run(tmp_path)
    code, _, err = run_cli("report", run, "--max-samples", "0")
    assert code == 2 and err.startswith("error: ") and "max-samples" in err
    assert not (run / "report.html").exists()


# ---- rendered by a real browser -----------------------------------------------------

# Reports, after the page has loaded, what the browser made of every image and chart.
PROBE = """
window.addEventListener("load", () => {
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({
    title: document.title,
    images: [...document.images].map(i => [i.naturalWidth, i.naturalHeight, i.complete]),
    charts: [...document.querySelectorAll("svg.chart")].map(
      s => [s.id, Math.round(s.getBoundingClientRect().width),
            s.querySelectorAll("g.series > path").length]),
  });
  document.body.appendChild(out);
});
"""


def _run_chromium(browser: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    command = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}", *args,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def test_report_renders_in_headless_chromium(tmp_path):
    browser = chromium()
    run = make_run(tmp_path, epochs=4, mifid_epochs=(2, 4))
    # Alone in an empty folder: a page that referenced files beside it would show holes.
    report = write_report(run, tmp_path / "alone" / "report.html")
    page = report.read_text()
    # The probe runs in a copy whose CSP allows exactly this script (by hash); the
    # page's own policy — images from data: only, no fetches — still applies.
    digest = base64.b64encode(hashlib.sha256(PROBE.encode()).digest()).decode()
    probed = tmp_path / "alone" / "probed.html"
    # A sentinel image that exists beside the page: the policy must block it, which also
    # shows that the probe sees a broken image as naturalWidth 0.
    shutil.copy(run / "samples" / "epoch_001.png", tmp_path / "alone" / "beside.png")
    sentinel = '<img id="sentinel" src="beside.png" alt="">'
    probed.write_text(
        page.replace("default-src 'none';", f"default-src 'none'; script-src 'sha256-{digest}';", 1)
        .replace("</body>", f"{sentinel}<script>{PROBE}</script></body>", 1)
    )
    dom = _run_chromium(browser, tmp_path, "--virtual-time-budget=10000", "--dump-dom",
                        probed.as_uri()).stdout
    match = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert match, f"probe did not run; DOM tail: {dom[-500:]}"
    probe = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert probe["title"] == "monet-resnet · cyclegan · resnet generator — painter report"
    grid_size = Image.open(run / "samples" / "epoch_001.png").size
    assert probe["images"][:4] == [[*grid_size, True]] * 4  # the four inlined grids
    assert probe["images"][4][:2] == [0, 0]  # the sentinel, blocked
    charts = {name: (width, lines) for name, width, lines in probe["charts"]}
    assert set(charts) == {"chart-generator", "chart-discriminator", "chart-terms",
                           "chart-mifid", "chart-lr"}
    assert all(width > 200 for width, _ in charts.values())
    assert [charts[c][1] for c in ("chart-generator", "chart-terms", "chart-mifid")] == [2, 2, 1]

    shot = tmp_path / "shot.png"
    _run_chromium(browser, tmp_path, "--window-size=1280,1600", f"--screenshot={shot}",
                  report.as_uri())
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.shape == (1600, 1280, 3)
    assert pixels.std() > 20  # not a blank page: text, charts and grids drew
