"""Colour statistics of image sets: per-channel histograms and the curve that matches one
set's histograms to another's (the start of a `tone_curve` generator); sRGB ↔
CIE L*a*b* and the Lab mean and standard deviation of a set (the `color-match` baseline
and the start of a `color_transfer = "lab"` generator).

Histograms are exact 256-bin counts of uint8 values, summed image by image, so any number
of images costs one pass and no pixel arrays. Values live in the models' [-1, 1] range:
uint8 `u` is `u / 127.5 - 1`, and bin `u` spans half a level either side of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from painter.colorspace import CIE_EPSILON, CIE_KAPPA, RGB_TO_XYZ, WHITE_D65, XYZ_TO_RGB


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


# The sRGB transfer curve is the costly part (a power per value), so it is tabulated:
# exactly for the 256 uint8 inputs, and on 2^16 linear steps for the way back to uint8
# (the largest step of the curve, near black, is then 0.05 of a uint8 level).
_LINEAR_STEPS = 65535


def _srgb_to_linear(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.0031308, 12.92 * v, 1.055 * np.maximum(v, 0) ** (1 / 2.4) - 0.055)


_UINT8_TO_LINEAR = _srgb_to_linear(np.arange(256) / 255.0).astype(np.float32)
_LINEAR_TO_UINT8 = np.clip(
    np.rint(_linear_to_srgb(np.arange(_LINEAR_STEPS + 1) / _LINEAR_STEPS) * 255), 0, 255
).astype(np.uint8)


def rgb_to_lab(images: np.ndarray) -> np.ndarray:
    """uint8 sRGB … ×3 → CIE L*a*b* float32 (L in [0, 100])."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8. Received: dtype={images.dtype}")
    linear = _UINT8_TO_LINEAR[images]
    xyz = linear @ (RGB_TO_XYZ.T / WHITE_D65).astype(np.float32)
    # float32 pow is ~3× faster than np.cbrt; xyz ≥ 0 here.
    f = np.where(xyz > CIE_EPSILON, np.power(np.maximum(xyz, 0), np.float32(1 / 3)), (CIE_KAPPA * xyz + 16) / 116)
    return np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1
    )


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """CIE L*a*b* → uint8 sRGB, out-of-gamut colours clipped."""
    lab = np.asarray(lab, np.float32)
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], -1)
    xyz = np.where(f > np.cbrt(CIE_EPSILON), f**3, (116 * f - 16) / CIE_KAPPA)
    linear = xyz @ (XYZ_TO_RGB.T * WHITE_D65[:, None]).astype(np.float32)
    steps = np.rint(np.clip(linear, 0, 1) * _LINEAR_STEPS).astype(np.int32)
    return _LINEAR_TO_UINT8[steps]


def channel_mean_std(arrays: Iterable[np.ndarray]) -> tuple[np.ndarray, np.ndarray, int]:
    """(mean, std, arrays) per channel over every pixel of (…, channels) arrays, streamed
    with float64 sums."""
    total = total_sq = None
    pixels = count = 0
    for values in arrays:
        values = np.asarray(values, np.float64)
        values = values.reshape(-1, values.shape[-1])
        total = values.sum(0) if total is None else total + values.sum(0)
        total_sq = (values**2).sum(0) if total_sq is None else total_sq + (values**2).sum(0)
        pixels += len(values)
        count += 1
    if count == 0:
        raise ValueError("no images")
    mean = total / pixels
    return mean, np.sqrt(np.maximum(total_sq / pixels - mean**2, 0)), count


def lab_statistics(images: Iterable[np.ndarray]) -> tuple[np.ndarray, np.ndarray, int]:
    """(mean, std, images) of every pixel of uint8 RGB images in CIE L*a*b*."""
    return channel_mean_std(rgb_to_lab(image) for image in images)
