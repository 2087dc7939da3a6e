"""`painter demo` on the embedded sample: data → train → images.zip → check → report.

README command 1 (and so CI) runs the full demo, MiFID included; CI checks that run's
output here, while a plain `pytest` runs the demo itself without the MiFID step.
"""

from __future__ import annotations

import csv
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def _demo_output(run_cli, tmp_path) -> tuple[Path, str]:
    """The demo's output folder and what it printed.

    `.ci/run` runs README command 1 (`painter demo`, MiFID included) first and names its
    output and log in PAINTER_DEMO_OUT / PAINTER_DEMO_LOG, so CI checks that run instead of
    running the demo a second time. Elsewhere the demo runs here, without the MiFID step.
    """
    out, log = os.environ.get("PAINTER_DEMO_OUT"), os.environ.get("PAINTER_DEMO_LOG")
    if out and log and (Path(out) / "run" / "report.html").is_file():
        return Path(out), Path(log).read_text()
    out = tmp_path / "demo"
    code, stdout, err = run_cli("demo", "--out", out, "--train-budget", "10m", "--no-score")
    assert code == 0, err
    return out, stdout


# Slow where it runs the demo itself (minutes); in CI it reads the run `.ci/run` made.
@pytest.mark.slow
def test_demo_writes_every_output_and_refuses_existing(run_cli, tmp_path):
    out, stdout = _demo_output(run_cli, tmp_path)
    grid_path = out / "sample_grid.png"
    assert f"to {grid_path}" in stdout and "JPEG bytes identical" in stdout
    assert sorted(p.name for p in (out / "data" / "monet_tfrec").iterdir()) == [
        "monet00-16.tfrec", "monet01-16.tfrec"]
    assert sorted(p.name for p in (out / "data" / "photo_tfrec").iterdir()) == [
        "photo00-16.tfrec", "photo01-16.tfrec"]
    grid = np.asarray(Image.open(grid_path))
    assert grid.shape == (2 * 256 + 2, 8 * 256 + 7 * 2, 3)  # photos over Monets, 8 a row
    assert grid[:256, :256].std() > 10  # an image, not a blank

    # The run: at least one epoch with finite losses, its curves and grids.
    run = out / "run"
    with open(run / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [row["epoch"] for row in rows] == ["1", "2"]  # quick.toml's 2 epochs
    assert all(np.isfinite(float(rows[-1][k])) for k in rows[-1] if k.endswith("_loss"))
    assert (run / "loss.png").stat().st_size > 0
    assert list((run / "samples").glob("epoch_*.png"))
    # The submission: 7,000 unique 256×256 JPEGs, the first of them a translated photo.
    with zipfile.ZipFile(out / "images.zip") as archive:
        names = archive.namelist()
        assert len(names) == len(set(names)) == 7000
        with archive.open(names[0]) as f:
            first = Image.open(f)
            assert first.format == "JPEG" and first.size == (256, 256) and first.mode == "RGB"
    assert "7,000 JPEGs" in stdout
    report = (out / "run" / "report.html").read_text()
    assert "<title>" in report
    # The stylizer's paintings and the run from its base (unless its weights could not be had).
    if "stylizer skipped" not in stdout:
        assert len(list((out / "stylized").glob("*.jpg"))) == 32
        paintings = np.asarray(Image.open(out / "run" / "paintings.png"))
        assert paintings.shape == (3 * 256 + 2 * 2, 6 * 256 + 5 * 2, 3)  # photos, stylized, trained
        assert np.abs(paintings[:256].astype(int) - paintings[258:514].astype(int)).mean() > 5
        assert report.index('id="paintings"') < report.index('id="curves"')
        assert 'base = "stylizer"' in (out / "run" / "config.toml").read_text()

    before = grid_path.read_bytes()
    code, stdout, err = run_cli("demo", "--out", out)
    assert code == 2
    assert err.strip() == f"error: {out} exists; pass --force to replace it"
    assert grid_path.read_bytes() == before
