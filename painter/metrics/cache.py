"""On-disk cache of real images' features and statistics, keyed by content.

The key is a SHA-256 over the encoded bytes of every image (in order), the weights file's
SHA-256 and the preprocessing tag, so a changed image, other weights or another resize
never reuse an entry. Entries are `<cache>/fid_features/<key>.npz` holding `features`
(n × 2048 float64), `mu`, `sigma` and a JSON `meta` (source, n, created, weights).
`painter cache list` / `painter cache clear` show and remove them.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from pathlib import Path

import numpy as np

from painter.io import atomic_path
from painter.pretrained import cache_dir

# Changes whenever the features of the same bytes could change: resize, scaling, network.
PREPROCESSING_TAG = "fid-inception-2015-12-05/pil-rgb/tf1-bilinear-299/(x-128)/128/v1"


def features_cache_dir() -> Path:
    return cache_dir() / "fid_features"


def feature_key(content_digest: str, weights_sha256: str) -> str:
    """The cache key of a set of images (its `ImageScan.digest`) under given weights."""
    text = f"{PREPROCESSING_TAG}\0{weights_sha256}\0{content_digest}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def load_features(key: str):
    """Returns (features, mu, sigma) of a cached entry, or None when absent or unreadable."""
    path = features_cache_dir() / f"{key}.npz"
    if not path.is_file():
        return None
    try:
        with np.load(path) as entry:
            return entry["features"], entry["mu"], entry["sigma"]
    except (OSError, KeyError, ValueError):
        return None  # a damaged entry is recomputed and rewritten


def save_features(key: str, features, mu, sigma, source) -> Path:
    """Writes an entry atomically (replacing a damaged one)."""
    meta = {
        "source": str(source),
        "n": int(len(features)),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "preprocessing": PREPROCESSING_TAG,
    }
    path = features_cache_dir() / f"{key}.npz"
    with atomic_path(path, force=True) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, features=features, mu=mu, sigma=sigma, meta=np.array(json.dumps(meta)))
    return path


def list_entries() -> list[dict]:
    """Every cache entry: key, source, n, created, bytes, path (oldest first)."""
    entries = []
    folder = features_cache_dir()
    for path in sorted(folder.glob("*.npz")) if folder.is_dir() else []:
        info = {"key": path.stem, "path": str(path), "bytes": path.stat().st_size}
        try:
            with np.load(path) as entry:
                info.update(json.loads(str(entry["meta"])))
        except (OSError, KeyError, ValueError):
            info.update({"source": "?", "n": None, "created": None})
        entries.append(info)
    return sorted(entries, key=lambda e: e.get("created") or "")


def clear_entries(keys=None) -> list[str]:
    """Removes the entries named by `keys` (a key or its unique prefix), or all when None.

    Returns:
        The removed keys.

    Raises:
        UsageError: a key that matches no entry, or several.
    """
    from painter.errors import UsageError

    present = [e["key"] for e in list_entries()]
    if keys is None:
        chosen = present
    else:
        chosen = []
        for key in keys:
            matches = [k for k in present if k.startswith(key)]
            if len(matches) != 1:
                what = "no" if not matches else f"{len(matches)}"
                raise UsageError(f"{what} cache entries match {key!r}; see `painter cache list`")
            chosen.append(matches[0])
    for key in chosen:
        os.unlink(features_cache_dir() / f"{key}.npz")
    return chosen
