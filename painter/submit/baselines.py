"""Cheap baselines a trained model has to beat.

- `photos`: the photos as they are. MiFID rewards Monet-like statistics, but real photos
  already score far better than a badly trained GAN.
- `color-match`: every photo's per-channel colour statistics moved onto the Monet set's
  (Reinhard et al. 2001 colour transfer): for each channel c of the image,
  `out_c = (x_c − mean_c(photo)) / std_c(photo) · std_c(Monets) + mean_c(Monets)`, where the
  Monet statistics are the mean and standard deviation of all pixels of all Monets. The
  channels are those of CIE L*a*b* (D65, sRGB companding) by default, where they are
  nearly decorrelated, or plain RGB with `space="rgb"`.

- `stylize`: every photo painted by the pretrained arbitrary style network with its own
  style vector moved `strength` of the way toward a Monet's (`painter.submit.paint.
  stylizer_model`; `--lab` adds the Lab colour transfer after it). It is exactly the
  untrained start of a generator with `base = "stylizer"`.

All reach 7,000 images from fewer photos with the documented variants of
`painter.submit.variants`, made of the photos before any matching.
"""

from __future__ import annotations

import dataclasses
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import numpy as np

from painter.data.color import channel_mean_std, lab_to_rgb, rgb_to_lab  # noqa: F401  (re-exported)
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
BASELINES = ("photos", "color-match", "stylize")


def _to_space(images: np.ndarray, space: str) -> np.ndarray:
    return rgb_to_lab(images) if space == "lab" else np.array(images, np.float32)  # a copy


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
    try:
        mean, std, images = channel_mean_std(
            _to_space(decode_rgb(item.data, item.origin, image_size=image_size), space)
            for item in iter_encoded_images(source)
        )
    except ValueError as error:
        if str(error) != "no images":
            raise
        from painter.errors import DataError

        raise DataError(f"{_describe(source)}: no images") from None
    return ColorStats(mean=mean, std=std, space=space, images=images)


def match_colors(images: np.ndarray, target: ColorStats) -> np.ndarray:
    """Moves each image's per-channel mean/std onto `target`'s (uint8 N×H×W×3 → uint8).

    A flat channel (std 0) is only shifted, never divided by zero.
    """
    values = _to_space(images, target.space)
    # One pass for each image's mean and variance (float32 is ample for 8-bit colours) and
    # one in-place affine map: the baseline of 7,000 images is mostly this arithmetic.
    pixels = values.reshape(values.shape[:-3] + (-1, values.shape[-1]))
    mean = pixels.mean(axis=-2)
    square = np.einsum("...pc,...pc->...c", pixels, pixels) / pixels.shape[-2]
    std = np.sqrt(np.maximum(square - mean * mean, 0))
    scale = np.where(std > 1e-6, target.std / np.maximum(std, 1e-6), 1.0).astype(np.float32)
    offset = (target.mean - mean * scale).astype(np.float32)
    values *= scale[..., None, None, :]
    values += offset[..., None, None, :]
    return _from_space(values, target.space)


def _on_threads(transform: Callable[[np.ndarray], np.ndarray]
                ) -> Callable[[np.ndarray], np.ndarray]:
    """`transform` over a batch split between the CPU's cores: numpy's arithmetic on whole
    images releases the GIL, so threads share the work (2.3× on 2 cores for `match_colors`,
    scripts/bench_color_match.py)."""
    workers = min(os.cpu_count() or 1, 4)
    if workers == 1:
        return transform
    pool = ThreadPoolExecutor(workers, thread_name_prefix="painter-baseline")

    def on_threads(batch: np.ndarray) -> np.ndarray:
        parts = np.array_split(batch, min(workers, len(batch)))
        return np.concatenate(list(pool.map(transform, parts)))

    return on_threads


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
    strength: float = 0.5,
    style: str = "random",
    lab: bool = False,
    log: Callable[[str], None] = print,
) -> GenerateResult:
    """Writes a baseline `images.zip`.

    Args:
        kind: "photos" (the photos as they are), "color-match" or "stylize" (see the
            module docstring).
        out: the zip to write.
        photos: the photos (any source `painter.data` reads).
        monets: "color-match": the Monets whose colour statistics are matched;
            "stylize": the Monets whose styles are taken (with `style` "random"/"mean").
        count: images to write, in [7,000, 10,000]. Default: every photo, clamped to that
            range and topped up with variants.
        space: "color-match" only: "lab" or "rgb". Default "lab".
        quality: JPEG quality. Default 95.
        seed: seeds the variant crops. Default 0.
        force: replace an existing `out`. Default False.
        batch: images per step. Default 32.
        strength, style, lab: "stylize" only (`painter.submit.paint.stylizer_model`);
            `seed` also shifts which Monet each photo gets.
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
    if kind == "stylize":
        from painter.pretrained import require_weights
        from painter.submit.paint import check_strength, style_images

        check_strength(strength)
        style_images(style, monets)
        require_weights("stylizer")
    photo_list = read_photos(photos)
    n = target_count(len(photo_list), count)
    if kind == "photos":
        transform = lambda batch_: batch_  # noqa: E731  (the photos as they are)
    elif kind == "stylize":
        from painter.inference import photo_translator
        from painter.submit.paint import stylizer_model

        model = stylizer_model(strength=strength, style=style, monets=monets, seed=seed, lab=lab,
                               log=log)
        transform = photo_translator(model)
    else:
        stats = color_stats(monets, space)
        log(
            f"Monet colour statistics ({space}, {stats.images} images): mean "
            f"{np.round(stats.mean, 2).tolist()}, std {np.round(stats.std, 2).tolist()}"
        )
        transform = _on_threads(lambda batch_: match_colors(batch_, stats))
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
