"""One front door: `compute_mifid(images, real)` scores a submission as Kaggle does.

Its pieces serve MiFID tracking during training too: `real_statistics` (the Monets'
features, through the content-keyed cache) and `mifid_of` (a set of images against them),
both through `painter.metrics.features.image_features`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np

from painter.errors import DataError
from painter.metrics import cache as feature_cache
from painter.metrics.features import (
    DEFAULT_BATCH,
    FeatureExtractor,
    ImageScan,
    decoded_images,
    fid_feature_extractor,
    image_features,
    scan_images,
)
from painter.metrics.maths import (
    activation_statistics,
    distance_threshold,
    frechet_distance,
    frechet_distance_low_rank,
    memorization_distance,
    mifid,
)
from painter.pretrained import file_sha256, require_weights


@dataclasses.dataclass(frozen=True)
class MiFIDResult:
    """A score and what it is made of.

    Attributes:
        mifid: FID / (distance_thresholded + 1e-15); Kaggle's leaderboard number.
        fid: the Fréchet Inception Distance.
        distance: memorization distance d (mean min 1 − |cos|).
        distance_thresholded: d if d < 0.1 else 1.
        n_generated, n_real: images scored on each side.
        real_cached: the real features came from the cache.
        seconds: wall time of the whole computation.
        features_computed: images that went through the network (cache hits excluded).
        network_seconds: time spent decoding and in the network for those images.
    """

    mifid: float
    fid: float
    distance: float
    distance_thresholded: float
    n_generated: int
    n_real: int
    real_cached: bool = False
    seconds: float = 0.0
    features_computed: int = 0
    network_seconds: float = 0.0

    def to_json_dict(self) -> dict:
        """The `painter score --json` contract: exactly these six keys."""
        return {
            "mifid": self.mifid,
            "fid": self.fid,
            "distance": self.distance,
            "distance_thresholded": self.distance_thresholded,
            "n_generated": self.n_generated,
            "n_real": self.n_real,
        }

    @property
    def features_per_second(self) -> float:
        return self.features_computed / self.network_seconds if self.network_seconds else 0.0


@dataclasses.dataclass(frozen=True)
class RealStatistics:
    """The real side of MiFID: features, their mean and covariance.

    Attributes:
        features, mu, sigma: the features (n, d), their mean and covariance.
        cached: they came from the content-keyed cache, not the network.
    """

    features: np.ndarray
    mu: np.ndarray
    sigma: np.ndarray
    cached: bool = False


# `progress(label, total)` → an object with `update(done)` and `close()`, e.g.
# `lambda label, total: painter.progress.progress_bar(total, label)`.
ProgressFactory = Callable[[str, int], object]


@contextlib.contextmanager
def _progress_bar(progress: ProgressFactory | None, label: str, total: int):
    """Yields the `update(done)` of a bar from `progress` (None without one), closed after."""
    bar = progress(label, total) if progress is not None else None
    try:
        yield bar.update if bar is not None else None
    finally:
        if bar is not None:
            bar.close()


def real_statistics(
    monets, features: FeatureExtractor, *, batch: int = DEFAULT_BATCH,
    cache_weights: str | os.PathLike | None = None, scan: ImageScan | None = None,
    progress: ProgressFactory | None = None,
) -> RealStatistics:
    """The real images' features and statistics.

    Args:
        monets: any source `painter.data` reads, e.g. `(root, "monet")`.
        features: a `FeatureExtractor`.
        batch: images per network call. Default 32.
        cache_weights: when `features` is the FID Inception, its weights file: the
            features then come from, or go to, the content-keyed cache
            (`painter.metrics.cache`), so a set of Monets runs through the network once
            per machine, whatever the run or submission. Default None: no cache.
        scan: `scan_images(monets)` when the caller has it already (saves a pass).
        progress: a bar factory, `progress("real", total)`, used when the network runs.
    """
    key = None
    if cache_weights is not None:
        scan = scan or scan_images(monets)
        key = feature_cache.feature_key(scan.digest, file_sha256(cache_weights))
        cached = feature_cache.load_features(key)
        if cached is not None:
            return RealStatistics(*cached, cached=True)
    if progress is not None and scan is None:
        scan = scan_images(monets)
    with _progress_bar(progress, "real", scan.count if scan is not None else 0) as update:
        real = image_features(decoded_images(monets), features, batch, update)
    mu, sigma = activation_statistics(real)
    if key is not None:
        feature_cache.save_features(key, real, mu, sigma, monets)
    return RealStatistics(real, mu, sigma)


def mifid_of(
    images: np.ndarray, real: RealStatistics, features: FeatureExtractor, *,
    batch: int = DEFAULT_BATCH,
) -> dict[str, float]:
    """{"mifid", "fid", "distance"} of uint8 images against `real` (Kaggle's formula;
    the FID through `frechet_distance_low_rank`, for a few hundred images in a fraction
    of a second)."""
    generated = image_features(images, features, batch)
    fid = frechet_distance_low_rank(generated, real.mu, real.sigma)
    distance = memorization_distance(generated, real.features)
    return {"mifid": float(mifid(fid, distance)), "fid": float(fid), "distance": float(distance)}


def _require_two(n: int, source, what: str) -> None:
    if n == 0:
        raise DataError(f"{source} holds no images ({what})")
    if n < 2:
        raise DataError(
            f"{source} holds {n} image ({what}); MiFID needs at least 2 (covariance undefined)"
        )


def compute_mifid(
    images_source,
    real_source,
    batch: int = DEFAULT_BATCH,
    weights: str | Path = "fid",
    use_cache: bool = True,
    progress: Callable[[str, int], object] | None = None,
) -> MiFIDResult:
    """Scores generated images against real ones with Kaggle's MiFID.

    Both sources are anything `painter.data.iter_encoded_images` reads (images.zip,
    JPEG/PNG folder, TFRecords folder or glob). Images are decoded and fed to the network
    a batch at a time. The real side's features are cached by content (see
    `painter.metrics.cache`), so scoring many submissions against the same Monets runs the
    network on the Monets once.

    Args:
        images_source: the generated images (the submission).
        real_source: the real images (e.g. the 300 Monets).
        batch: images per forward pass. Default 32.
        weights: "fid" (default: the cached converted weights) or a `.weights.h5` path.
        use_cache: read and write the real-features cache. Default True.
        progress: optional factory `progress(label, total)` returning an object with
            `update(done)` and `close()`, e.g. a `painter.progress.progress_bar`.

    Returns:
        A `MiFIDResult`.

    Raises:
        WeightsError: no weights (the message says `painter weights fetch` / `import`).
        DataError: a source with fewer than 2 images, a non-image entry, mixed sizes.
        UsageError: a missing path.
    """
    if not isinstance(batch, int) or batch < 1:
        raise ValueError(f"`batch` must be a positive int. Received: batch={batch!r}")
    start = time.perf_counter()

    # 1. Cheap passes first (headers only), so bad inputs fail before the long part.
    generated_scan = scan_images(images_source)
    _require_two(generated_scan.count, images_source, "generated images")
    real_scan = scan_images(real_source)
    _require_two(real_scan.count, real_source, "--real")
    weights_path = require_weights("fid", path=None if weights == "fid" else weights)
    extractor = fid_feature_extractor(weights_path)
    network_seconds, computed = 0.0, 0

    # 2. Real features: from the cache, or computed and cached.
    t0 = time.perf_counter()
    real = real_statistics(
        real_source, extractor, batch=batch, cache_weights=weights_path if use_cache else None,
        scan=real_scan, progress=progress,
    )
    if not real.cached:
        network_seconds += time.perf_counter() - t0
        computed += len(real.features)

    # 3. Generated features, through the same path, then Kaggle's formula.
    t0 = time.perf_counter()
    with _progress_bar(progress, "generated", generated_scan.count) as update:
        generated_features = image_features(decoded_images(images_source), extractor, batch, update)
    network_seconds += time.perf_counter() - t0
    computed += len(generated_features)
    mu_gen, sigma_gen = activation_statistics(generated_features)
    fid_value = frechet_distance(mu_gen, sigma_gen, real.mu, real.sigma)
    distance = memorization_distance(generated_features, real.features)
    return MiFIDResult(
        mifid=mifid(fid_value, distance),
        fid=fid_value,
        distance=distance,
        distance_thresholded=distance_threshold(distance),
        n_generated=len(generated_features),
        n_real=len(real.features),
        real_cached=real.cached,
        seconds=time.perf_counter() - start,
        features_computed=computed,
        network_seconds=network_seconds,
    )
