"""Colour statistics of image sets: per-channel histograms and the curve that matches one
set's histograms to another's (the start of a `tone_curve` generator, issue 8).

Histograms are exact 256-bin counts of uint8 values, summed image by image, so any number
of images costs one pass and no pixel arrays. Values live in the models' [-1, 1] range:
uint8 `u` is `u / 127.5 - 1`, and bin `u` spans half a level either side of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


def channel_histograms(images: Iterable[np.ndarray]) -> np.ndarray:
    """(256, channels) int64 counts of every value of every channel of uint8 images."""
    counts = None
    for image in images:
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim != 3:
            raise ValueError(
                f"images must be uint8 (height, width, channels). Received: {image.dtype} "
                f"{image.shape}"
            )
        per_channel = np.stack(
            [np.bincount(image[..., c].ravel(), minlength=256) for c in range(image.shape[-1])],
            axis=1,
        )
        counts = per_channel if counts is None else counts + per_channel
    if counts is None:
        raise ValueError("no images")
    return counts


def _edges_and_cdf(histogram: np.ndarray, channel: int) -> tuple[np.ndarray, np.ndarray]:
    edges = (np.arange(257) - 0.5) / 127.5 - 1.0
    cdf = np.concatenate([[0.0], np.cumsum(histogram[:, channel], dtype=np.float64)])
    cdf /= cdf[-1]
    # Empty bins make flat runs; a vanishing ramp keeps the inverse well defined.
    return edges, cdf + np.arange(257) * 1e-12


def histogram_match_curve(
    source: np.ndarray, target: np.ndarray, knots: Sequence[float]
) -> np.ndarray:
    """The per-channel curve that carries `source`'s value distribution onto `target`'s
    (classic histogram matching: target quantile of the source CDF), at `knots` in [-1, 1].

    Args:
        source, target: (256, channels) histograms (`channel_histograms`).
        knots: values in [-1, 1] where the curve is evaluated.

    Returns:
        (len(knots), channels) float32 curve values in [-1, 1], non-decreasing per channel.
    """
    source, target = np.asarray(source), np.asarray(target)
    if source.shape != target.shape or source.ndim != 2 or source.shape[0] != 256:
        raise ValueError(
            "source and target must be (256, channels) histograms of the same shape. "
            f"Received: {source.shape}, {target.shape}"
        )
    knots = np.asarray(knots, dtype=np.float64)
    curve = np.empty((len(knots), source.shape[1]))
    for c in range(source.shape[1]):
        edges, source_cdf = _edges_and_cdf(source, c)
        _, target_cdf = _edges_and_cdf(target, c)
        curve[:, c] = np.interp(np.interp(knots, edges, source_cdf), target_cdf, edges)
    return np.clip(curve, -1.0, 1.0).astype(np.float32)
