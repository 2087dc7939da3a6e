"""Image grids (painter.viz)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from painter.errors import UsageError
from painter.viz import image_grid, save_image_grid


def test_grid_layout_and_float_mapping():
    images = np.stack([np.full((4, 6, 3), v, np.float32) for v in (-1.0, 0.0, 1.0)])
    grid = image_grid(images, cols=2, pad=1)
    assert grid.dtype == np.uint8 and grid.shape == (4 * 2 + 1, 6 * 2 + 1, 3)
    assert (grid[:4, :6] == 0).all()  # -1 → 0
    assert (grid[:4, 7:] == 128).all()  # 0 → 127.5, rounded
    assert (grid[5:, :6] == 255).all()  # 1 → 255
    assert (grid[4] == 255).all() and (grid[:, 6] == 255).all()  # white padding
    assert (grid[5:, 7:] == 255).all()  # the empty cell stays white


def test_grid_uint8_gray_and_default_cols():
    images = np.arange(5 * 2 * 2, dtype=np.uint8).reshape(5, 2, 2)
    grid = image_grid(images, pad=0)
    assert grid.shape == (2 * 2, 3 * 2, 3)  # ceil(sqrt(5)) = 3 columns, 2 rows
    np.testing.assert_array_equal(grid[:2, 2:4, 1], images[1])
    assert (grid[..., 0] == grid[..., 2]).all()


def test_grid_rejects_bad_input():
    with pytest.raises(ValueError, match="Received: shape="):
        image_grid(np.zeros((2, 2, 2, 2), np.uint8))
    with pytest.raises(ValueError, match="Received: cols=0"):
        image_grid(np.zeros((2, 2, 2, 3), np.uint8), cols=0)
    with pytest.raises(ValueError, match="Received: dtype=int64"):
        image_grid(np.zeros((1, 2, 2, 3), np.int64))


def test_save_image_grid_atomic_and_refuses_existing(tmp_path):
    path = tmp_path / "grid.png"
    save_image_grid(np.zeros((2, 8, 8, 3), np.float32), path, cols=2)
    saved = np.asarray(Image.open(path))
    assert saved.shape == (8, 18, 3) and saved[0, 0, 0] == 128
    before = path.read_bytes()
    with pytest.raises(UsageError, match="exists; pass --force"):
        save_image_grid(np.ones((1, 8, 8, 3), np.float32), path)
    assert path.read_bytes() == before
    save_image_grid(np.ones((1, 8, 8, 3), np.float32), path, force=True)
    assert np.asarray(Image.open(path)).min() == 255
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]
