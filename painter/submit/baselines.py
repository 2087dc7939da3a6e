"""Cheap baselines a trained model has to beat (issue 8).

- `photos`: the photos as they are. MiFID rewards Monet-like statistics, but real photos
  already score far better than a badly trained GAN.
- `color-match`: every photo's per-channel colour statistics moved onto the Monet set's
  (Reinhard et al. 2001 colour transfer): for each channel c of the image,
  `out_c = (x_c − mean_c(photo)) / std_c(photo) · std_c(Monets) + mean_c(Monets)`, where the
  Monet statistics are the mean and standard deviation of all pixels of all Monets. The
  channels are those of CIE L*a*b* (D65, sRGB companding) by default, where they are
  nearly decorrelated, or plain RGB with `space="rgb"`.

Both reach 7,000 images from fewer photos with the documented variants of
`painter.submit.variants`, made of the photos before any matching.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable

import numpy as np

from painter.submit.generate import (
    DEFAULT_BATCH,
    GenerateResult,
    _describe,
    _log_plan,
    photo_inputs,
    read_photos,
    target_count,
    write_submission,
)

SPACES = ("lab", "rgb")
BASELINES = ("photos", "color-match")

# sRGB (D65) → XYZ, and the D65 white point.
_RGB_TO_XYZ = np.array(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
)
_XYZ_TO_RGB = np.linalg.inv(_RGB_TO_XYZ)
_WHITE = np.array([0.95047, 1.0, 1.08883])
_EPSILON = 216 / 24389
_KAPPA = 24389 / 27
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
    xyz = linear @ (_RGB_TO_XYZ.T / _WHITE).astype(np.float32)
    # float32 pow is ~3× faster than np.cbrt; xyz ≥ 0 here.
    f = np.where(xyz > _EPSILON, np.power(np.maximum(xyz, 0), np.float32(1 / 3)), (_KAPPA * xyz + 16) / 116)
    return np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1
    )


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """CIE L*a*b* → uint8 sRGB, out-of-gamut colours clipped."""
    lab = np.asarray(lab, np.float32)
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], -1)
    xyz = np.where(f > np.cbrt(_EPSILON), f**3, (116 * f - 16) / _KAPPA)
    linear = xyz @ (_XYZ_TO_RGB.T * _WHITE[:, None]).astype(np.float32)
    steps = np.rint(np.clip(linear, 0, 1) * _LINEAR_STEPS).astype(np.int32)
    return _LINEAR_TO_UINT8[steps]


def _to_space(images: np.ndarray, space: str) -> np.ndarray:
    return rgb_to_lab(images) if space == "lab" else np.asarray(images, np.float32)


def _from_space(values: np.ndarray, space: str) -> np.ndarray:
    if space == "lab":
        return lab_to_rgb(values)
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _check_space(space: str) -> None:
    if space not in SPACES:
        raise ValueError(f"space must be one of {SPACES}. Received: space={space!r}")


@dataclasses.dataclass(frozen=True)
class ColorStats:
    """Per-channel mean and standard deviation over every pixel of an image set."""

    mean: np.ndarray  # (3,)
    std: np.ndarray  # (3,)
    space: str
    images: int


def color_stats(source: Any, space: str = "lab", image_size: int = 256) -> ColorStats:
    """The per-channel statistics of every image in `source` (streamed, float64 sums)."""
    from painter.data import decode_rgb, iter_encoded_images

    _check_space(space)
    total = np.zeros(3)
    total_sq = np.zeros(3)
    pixels = 0
    images = 0
    for item in iter_encoded_images(source):
        values = _to_space(decode_rgb(item.data, item.origin, image_size=image_size), space)
        values = values.reshape(-1, 3)
        total += values.sum(0)
        total_sq += (values**2).sum(0)
        pixels += len(values)
        images += 1
    if images == 0:
        from painter.errors import DataError

        raise DataError(f"{_describe(source)}: no images")
    mean = total / pixels
    std = np.sqrt(np.maximum(total_sq / pixels - mean**2, 0))
    return ColorStats(mean=mean, std=std, space=space, images=images)


def match_colors(images: np.ndarray, target: ColorStats) -> np.ndarray:
    """Moves each image's per-channel mean/std onto `target`'s (uint8 N×H×W×3 → uint8).

    A flat channel (std 0) is only shifted, never divided by zero.
    """
    values = _to_space(images, target.space)
    axes = (-3, -2)
    mean = values.mean(axis=axes, keepdims=True)
    std = values.std(axis=axes, keepdims=True)
    scale = np.where(std > 1e-6, target.std / np.maximum(std, 1e-6), 1.0)
    return _from_space((values - mean) * scale + target.mean, target.space)


def baseline(
    kind: str,
    out: str | os.PathLike,
    *,
    photos: Any,
    monets: Any = None,
    count: int | None = None,
    space: str = "lab",
    quality: int = 95,
    seed: int = 0,
    force: bool = False,
    batch: int = DEFAULT_BATCH,
    log: Callable[[str], None] = print,
) -> GenerateResult:
    """Writes a baseline `images.zip`.

    Args:
        kind: "photos" (the photos as they are) or "color-match" (see the module docstring).
        out: the zip to write.
        photos: the photos (any source `painter.data` reads).
        monets: "color-match" only: the Monets whose colour statistics are matched.
        count: images to write, in [7,000, 10,000]. Default: every photo, clamped to that
            range and topped up with variants.
        space: "color-match" only: "lab" or "rgb". Default "lab".
        quality: JPEG quality. Default 95.
        seed: seeds the variant crops. Default 0.
        force: replace an existing `out`. Default False.
        batch: images per step. Default 32.
        log: where messages go. Default print.
    """
    from painter.errors import UsageError
    from painter.io import check_output

    if kind not in BASELINES:
        raise ValueError(f"kind must be one of {BASELINES}. Received: kind={kind!r}")
    _check_space(space)
    target_count(0, count)  # checks a given count before any reading
    check_output(out, force)
    if kind == "color-match" and monets is None:
        raise UsageError("color-match needs the Monets: pass --monets")
    photo_list = read_photos(photos)
    n = target_count(len(photo_list), count)
    if kind == "photos":
        transform = lambda batch_: batch_  # noqa: E731  (the photos as they are)
    else:
        stats = color_stats(monets, space)
        log(
            f"Monet colour statistics ({space}, {stats.images} images): mean "
            f"{np.round(stats.mean, 2).tolist()}, std {np.round(stats.std, 2).tolist()}"
        )
        transform = lambda batch_: match_colors(batch_, stats)  # noqa: E731
    _log_plan(log, len(photo_list), n, _describe(photos))
    result = write_submission(
        out, photo_inputs(photo_list, seed=seed), n, transform, batch=batch, quality=quality,
        force=force, n_inputs=len(photo_list), label=kind,
    )
    log(
        f"wrote {result.count:,} images to {result.path} in {result.seconds:.1f}s "
        f"({result.images_per_second:.1f} images/s)"
    )
    return result
