"""Test-time variants: how a submission reaches 7,000 images from fewer photos.

Kaggle takes 7,000 to 10,000 images; its photo set has 7,038, but a local sample or a
held-out subset has fewer. The missing images come from variants of the photos, always
in this order (pass 0 is every photo once, pass 1 every photo again, and so on):

- pass 0: the photo itself;
- pass 1: the photo flipped left–right;
- pass p ≥ 2: a square crop of 75–95 % of the side at a random position, resized back to
  the full size (bilinear), flipped left–right when p is odd. The crop is drawn from a
  generator seeded with (seed, photo index, p), so the same call gives the same images.

For a CycleGAN run the variant is made of the photo before translation (the generator
sees a new input); for the baselines it is the output itself. The zip writer drops an
image whose JPEG bytes equal an earlier one's (a blank photo flipped is itself), and the
caller then draws further passes, so no two entries are byte-identical.
"""

from __future__ import annotations

import itertools
from pathlib import PurePosixPath
from typing import Iterator, Sequence

import numpy as np
from PIL import Image

CROP_SCALE = (0.75, 0.95)


def photo_variant(image: np.ndarray, variant: int, *, seed: int = 0, key: int = 0) -> np.ndarray:
    """Variant number `variant` of one uint8 H×W×3 image (see the module docstring).

    Args:
        image: uint8 H×W×3.
        variant: 0 (the image), 1 (flipped) or a crop pass ≥ 2.
        seed: the run's seed. Default 0.
        key: tells photos apart in the crop's seed, usually the photo's index. Default 0.
    """
    if variant < 0:
        raise ValueError(f"variant must be ≥ 0. Received: variant={variant}")
    if variant == 0:
        return image
    if variant == 1:
        return np.ascontiguousarray(image[:, ::-1])
    height, width = image.shape[:2]
    rng = np.random.default_rng([seed, key, variant])
    side = int(round(rng.uniform(*CROP_SCALE) * min(height, width)))
    top = int(rng.integers(0, height - side + 1))
    left = int(rng.integers(0, width - side + 1))
    box = (left, top, left + side, top + side)
    out = np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BILINEAR, box=box))
    return np.ascontiguousarray(out[:, ::-1]) if variant % 2 else out


def variant_name(name: str, variant: int) -> str:
    """`photo.jpg` for variant 0, `photo_v003.jpg` for variant 3 (always `.jpg`)."""
    stem = PurePosixPath(name).stem or "image"
    return f"{stem}.jpg" if variant == 0 else f"{stem}_v{variant:03d}.jpg"


def unique_stems(names: Sequence[str]) -> list[str]:
    """Entry names, made unique: a second `a.jpg` (from another folder) becomes `a_2.jpg`."""
    seen: set[str] = set()
    out = []
    for name in names:
        stem = PurePosixPath(name).stem or "image"
        candidate, n = stem, 1
        while candidate in seen:
            n += 1
            candidate = f"{stem}_{n}"
        seen.add(candidate)
        out.append(f"{candidate}.jpg")
    return out


def variant_plan(n_photos: int) -> Iterator[tuple[int, int]]:
    """(photo index, variant) pairs, pass by pass: every photo at variant 0, then 1, …

    Endless; the caller takes as many as it needs.
    """
    if n_photos < 1:
        raise ValueError(f"n_photos must be ≥ 1. Received: n_photos={n_photos}")
    for variant in itertools.count():
        for index in range(n_photos):
            yield index, variant
