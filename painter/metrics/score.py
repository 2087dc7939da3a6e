"""One front door: `compute_mifid(images, real)` scores a submission as Kaggle does."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable

from painter.errors import DataError, WeightsError
from painter.metrics import cache as feature_cache
from painter.metrics.features import (
    DEFAULT_BATCH,
    decoded_images,
    inception_features,
    scan_images,
)
from painter.metrics.maths import (
    activation_statistics,
    distance_threshold,
    frechet_distance,
    memorization_distance,
    mifid,
)
from painter.metrics.weights import HOW_TO_GET, file_sha256, fid_weights_path


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
            `update(done)` and `close()`, e.g. `painter.submit.progress.Progress`-like.

    Returns:
        A `MiFIDResult`.

    Raises:
        WeightsError: no weights (the message says `painter weights fetch` / `import`).
        DataError: a source with fewer than 2 images, a non-image entry, mixed sizes.
        UsageError: a missing path.
    """
    from painter.metrics.inception import fid_inception

    if not isinstance(batch, int) or batch < 1:
        raise ValueError(f"`batch` must be a positive int. Received: batch={batch!r}")
    start = time.perf_counter()

    # 1. Cheap passes first (headers only), so bad inputs fail before the long part.
    generated_scan = scan_images(images_source)
    _require_two(generated_scan.count, images_source, "generated images")
    real_scan = scan_images(real_source)
    _require_two(real_scan.count, real_source, "--real")
    weights_path = fid_weights_path() if weights == "fid" else Path(weights)
    if not weights_path.is_file():
        raise WeightsError(f"FID Inception weights not found at {weights_path}; {HOW_TO_GET}")
    real_key = feature_cache.feature_key(real_scan.digest, file_sha256(weights_path))
    model = fid_inception(weights=weights_path)
    network_seconds, computed = 0.0, 0

    def features_of(source, label, total):
        nonlocal network_seconds, computed
        bar = progress(label, total) if progress is not None else None
        t0 = time.perf_counter()
        try:
            features = inception_features(
                decoded_images(source), batch=batch, model=model,
                progress=bar.update if bar is not None else None,
            )
        finally:
            if bar is not None:
                bar.close()
        network_seconds += time.perf_counter() - t0
        computed += len(features)
        return features

    # 2. Real features: from the cache, or computed and cached.
    cached = feature_cache.load_features(real_key) if use_cache else None
    if cached is not None:
        real_features, mu_real, sigma_real = cached
    else:
        real_features = features_of(real_source, "real", real_scan.count)
        mu_real, sigma_real = activation_statistics(real_features)
        if use_cache:
            feature_cache.save_features(real_key, real_features, mu_real, sigma_real, real_source)

    # 3. Generated features, then Kaggle's formula.
    generated_features = features_of(images_source, "generated", generated_scan.count)
    mu_gen, sigma_gen = activation_statistics(generated_features)
    fid_value = frechet_distance(mu_gen, sigma_gen, mu_real, sigma_real)
    distance = memorization_distance(generated_features, real_features)
    return MiFIDResult(
        mifid=mifid(fid_value, distance),
        fid=fid_value,
        distance=distance,
        distance_thresholded=distance_threshold(distance),
        n_generated=len(generated_features),
        n_real=len(real_features),
        real_cached=cached is not None,
        seconds=time.perf_counter() - start,
        features_computed=computed,
        network_seconds=network_seconds,
    )
