"""`painter demo` on the embedded sample."""

from __future__ import annotations

import numpy as np
from PIL import Image


def test_demo_writes_outputs_and_refuses_existing(run_cli, tmp_path):
    out = tmp_path / "demo"
    code, stdout, err = run_cli("demo", "--out", out)
    assert code == 0, err
    grid_path = out / "sample_grid.png"
    assert f"to {grid_path}" in stdout and "JPEG bytes identical" in stdout
    assert sorted(p.name for p in (out / "tfrecords").iterdir()) == [
        "monet00-16.tfrec", "monet01-16.tfrec", "photo00-16.tfrec", "photo01-16.tfrec"]
    grid = np.asarray(Image.open(grid_path))
    assert grid.shape == (2 * 256 + 2, 8 * 256 + 7 * 2, 3)  # photos over Monets, 8 a row
    assert grid[:256, :256].std() > 10  # an image, not a blank

    before = grid_path.read_bytes()
    code, stdout, err = run_cli("demo", "--out", out)
    assert code == 2
    assert err.strip() == f"error: {out} exists; pass --force to replace it"
    assert grid_path.read_bytes() == before

    code, stdout, err = run_cli("demo", "--out", out, "--force")
    assert code == 0, err
