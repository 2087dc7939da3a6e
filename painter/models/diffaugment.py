"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN
Training"): random, differentiable transforms applied to every image a discriminator sees.

With only 300 Monets a discriminator soon memorises them; augmenting both what it sees
real and what it sees fake, with transforms the generator's gradient flows through, keeps
it honest without leaking the augmentations into the generated images.

**Apply the same call to real and fake.** Concatenate the real and the fake batch, call
`diff_augment` once on the concatenation, and split the result: the two halves then come
from one draw of the random stream and one compiled graph (each example still gets its own
random parameters, as in the paper). Augment the images the discriminator is trained on
and the fakes the generator is trained through alike.

Under `tf.distribute.MirroredStrategy` each replica's copy of a `SeedGenerator` holds the
same state, so the k-th example of every replica's local batch gets the same transform
parameters (different images, correlated augmentations); seed per replica to avoid it.

Written with `keras.ops` and `keras.random` only. Shapes stay static except the batch
dimension, which may be symbolic (None): it is read with `ops.shape` at run time, which
XLA (`jit_compile`) resolves when it compiles each concrete shape.
"""

from __future__ import annotations

import keras
from keras import ops

TRANSLATION_RATIO = 1 / 8  # shift by up to 1/8 of the image side, zero-filled
CUTOUT_RATIO = 1 / 2  # erase one square of half the image side


def _batch_size(images):
    static = images.shape[0]
    return static if static is not None else ops.shape(images)[0]


def _uniform(images, seed_generator):
    """One U[0, 1) value per example, shaped to broadcast over an image."""
    return keras.random.uniform(
        (_batch_size(images), 1, 1, 1), dtype=images.dtype, seed=seed_generator
    )


def rand_brightness(images, seed_generator):
    """Adds one value from U[-0.5, 0.5) per image."""
    return images + (_uniform(images, seed_generator) - 0.5)


def rand_saturation(images, seed_generator):
    """Scales each pixel's distance from its grey level by U[0, 2) per image."""
    grey = ops.mean(images, axis=3, keepdims=True)
    return (images - grey) * (_uniform(images, seed_generator) * 2.0) + grey


def rand_contrast(images, seed_generator):
    """Scales the distance from the image's mean by U[0.5, 1.5) per image."""
    mean = ops.mean(images, axis=(1, 2, 3), keepdims=True)
    return (images - mean) * (_uniform(images, seed_generator) + 0.5) + mean


def rand_translation(images, seed_generator, ratio: float = TRANSLATION_RATIO):
    """Shifts each image by whole pixels, up to `ratio` of its side, filling with zeros.

    As the paper's code: pad one zero pixel around the image, then gather with indices
    clamped into the padded image, so whatever is shifted in reads the zero border.
    """
    height, width, channels = images.shape[1:]
    batch = _batch_size(images)
    shift_h = int(height * ratio + 0.5)
    shift_w = int(width * ratio + 0.5)
    dy = keras.random.randint((batch, 1, 1), -shift_h, shift_h + 1, seed=seed_generator)
    dx = keras.random.randint((batch, 1, 1), -shift_w, shift_w + 1, seed=seed_generator)
    rows = ops.clip(ops.reshape(ops.arange(height), (1, height, 1)) + dy + 1, 0, height + 1)
    cols = ops.clip(ops.reshape(ops.arange(width), (1, 1, width)) + dx + 1, 0, width + 1)
    padded = ops.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]])
    pixels_per_image = (height + 2) * (width + 2)
    offsets = ops.reshape(ops.arange(batch) * pixels_per_image, (-1, 1, 1))
    flat_index = offsets + rows * (width + 2) + cols  # (batch, height, width)
    flat = ops.reshape(padded, (-1, channels))
    return ops.take(flat, ops.cast(flat_index, "int32"), axis=0)


def rand_cutout(images, seed_generator, ratio: float = CUTOUT_RATIO):
    """Zeroes one square of `ratio` of the side per image, centred anywhere in the image.

    The square may hang over the border (then less is erased), as in the paper's code.
    """
    height, width = images.shape[1:3]
    batch = _batch_size(images)
    size_h = int(height * ratio + 0.5)
    size_w = int(width * ratio + 0.5)
    centre_y = keras.random.randint(
        (batch, 1, 1), 0, height + (1 - size_h % 2), seed=seed_generator
    )
    centre_x = keras.random.randint((batch, 1, 1), 0, width + (1 - size_w % 2), seed=seed_generator)
    top = centre_y - size_h // 2
    left = centre_x - size_w // 2
    rows = ops.reshape(ops.arange(height), (1, height, 1))
    cols = ops.reshape(ops.arange(width), (1, 1, width))
    inside = ops.logical_and(
        ops.logical_and(rows >= top, rows < top + size_h),
        ops.logical_and(cols >= left, cols < left + size_w),
    )
    keep = ops.cast(ops.logical_not(inside), images.dtype)
    return images * ops.expand_dims(keep, -1)


AUGMENTATIONS = {
    "color": (rand_brightness, rand_saturation, rand_contrast),
    "translation": (rand_translation,),
    "cutout": (rand_cutout,),
}


def parse_policy(policy: str) -> tuple[str, ...]:
    """The augmentation names of a policy string such as "color,translation,cutout".

    Raises:
        ValueError: for a name not in `AUGMENTATIONS`.
    """
    names = tuple(name.strip() for name in policy.split(",") if name.strip())
    for name in names:
        if name not in AUGMENTATIONS:
            raise ValueError(
                f"Unknown DiffAugment transform {name!r}; known: {', '.join(AUGMENTATIONS)}. "
                f"Received: policy={policy!r}"
            )
    return names


def diff_augment(images, policy: str, seed_generator):
    """Applies the policy's transforms, in its order, each with new random parameters.

    Args:
        images: (batch, height, width, channels) float images in [-1, 1]; the batch may
            be symbolic. Call it once on `concatenate([real, fake])` (module docstring).
        policy: comma-separated names from "color" (brightness, saturation, contrast),
            "translation" (1/8) and "cutout" (1/2); "" returns `images` unchanged.
        seed_generator: a `keras.random.SeedGenerator` (or anything `keras.random`
            accepts as `seed`); the same seed gives the same result.

    Returns:
        Augmented images of the same shape and dtype, differentiable w.r.t. `images`.
    """
    names = parse_policy(policy)
    if names and len(images.shape) != 4:
        raise ValueError(
            f"`images` must be (batch, height, width, channels). Received: shape={images.shape}"
        )
    for name in names:
        for transform in AUGMENTATIONS[name]:
            images = transform(images, seed_generator)
    return images
