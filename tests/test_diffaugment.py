"""DiffAugment: each transform does what the paper's does, differentiably, with static shapes."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import random_images
from painter.models.diffaugment import (
    diff_augment,
    parse_policy,
    rand_brightness,
    rand_contrast,
    rand_cutout,
    rand_saturation,
    rand_translation,
)

POLICY = "color,translation,cutout"


def value(x):
    return keras.ops.convert_to_numpy(x)


def seed(n=0):
    return keras.random.SeedGenerator(n)


def test_empty_policy_is_identity():
    x = random_images(4, 32)
    assert diff_augment(x, "", seed()) is x
    assert parse_policy(" color , cutout ") == ("color", "cutout")


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", POLICY])
def test_keeps_shape_dtype_and_changes_images(policy):
    x = random_images(4, 32)
    y = diff_augment(x, policy, seed())
    assert tuple(y.shape) == x.shape
    assert keras.backend.standardize_dtype(y.dtype) == "float32"
    # Every image of the batch is changed (translation may draw a zero shift: allow one).
    changed = [not np.array_equal(a, b) for a, b in zip(value(y), x)]
    assert sum(changed) >= len(x) - (1 if policy == "translation" else 0)


def test_color_transforms_keep_what_the_paper_keeps():
    x = random_images(4, 32)
    shift = value(rand_brightness(x, seed())) - x
    per_image = shift.reshape(len(x), -1)
    np.testing.assert_allclose(per_image, per_image[:, :1].repeat(per_image.shape[1], 1), atol=1e-6)
    assert np.all(np.abs(per_image) <= 0.5)
    # Saturation keeps each pixel's grey level; contrast keeps each image's mean.
    np.testing.assert_allclose(value(rand_saturation(x, seed())).mean(-1), x.mean(-1), atol=1e-5)
    np.testing.assert_allclose(
        value(rand_contrast(x, seed())).mean(axis=(1, 2, 3)), x.mean(axis=(1, 2, 3)), atol=1e-5
    )


def shifted(image, dy, dx):
    out = np.zeros_like(image)
    h, w = image.shape[:2]
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = (
        image[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    )
    return out


def test_translation_shifts_whole_pixels_by_up_to_one_eighth_with_zero_fill():
    x = random_images(8, 32)
    y = value(rand_translation(x, seed(3)))
    shifts = []
    for image, out in zip(x, y):
        found = [(dy, dx) for dy in range(-4, 5) for dx in range(-4, 5)
                 if np.array_equal(out, shifted(image, dy, dx))]
        assert len(found) == 1, "not a zero-filled shift of at most 32/8 = 4 px"
        shifts.append(found[0])
    assert len(set(shifts)) > 1  # each image draws its own shift


def test_cutout_zeroes_one_square_of_half_the_side():
    x = random_images(8, 32) * 0.5 + 0.75  # no pixel is 0 before
    y = value(rand_cutout(x, seed(4)))
    for image, out in zip(x, y):
        erased = np.all(out == 0, axis=-1)
        np.testing.assert_array_equal(out[~erased], image[~erased])
        rows, cols = np.flatnonzero(erased.any(1)), np.flatnonzero(erased.any(0))
        assert erased.any() and len(rows) <= 16 and len(cols) <= 16
        # A rectangle (clipped by the border), and a full 16-px side where it fits inside.
        assert erased[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].all()
        assert erased.sum() == len(rows) * len(cols)
        if 0 < rows[0] and rows[-1] < 31:
            assert len(rows) == 16


def test_same_seed_same_result_and_new_draws_per_call():
    x = random_images(4, 32)
    a = value(diff_augment(x, POLICY, seed(7)))
    b = value(diff_augment(x, POLICY, seed(7)))
    np.testing.assert_array_equal(a, b)
    generator = seed(7)
    first = value(diff_augment(x, POLICY, generator))
    second = value(diff_augment(x, POLICY, generator))
    assert not np.array_equal(first, second)
    # Identical images in one batch (real and fake concatenated) get their own draws.
    twins = np.concatenate([x[:1], x[:1]])
    out = value(diff_augment(twins, POLICY, seed(8)))
    assert not np.array_equal(out[0], out[1])


def test_differentiable():
    x = tf.constant(random_images(4, 32))
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(tf.square(diff_augment(x, POLICY, seed(1))))
    grad = tape.gradient(loss, x).numpy()
    assert np.isfinite(grad).all()
    # Gradient reaches every image, and zero where cutout erased the pixel.
    assert (np.abs(grad).reshape(len(grad), -1).sum(1) > 0).all()


def test_static_shapes_under_xla_with_a_symbolic_batch():
    generator = seed(2)

    @tf.function(jit_compile=True, input_signature=[tf.TensorSpec((None, 32, 32, 3))])
    def augment(batch):
        return diff_augment(batch, POLICY, generator)

    graph = augment.get_concrete_function().graph
    assert graph.outputs[0].shape.as_list() == [None, 32, 32, 3]
    for n in (3,):
        out = augment(random_images(n, 32)).numpy()
        assert out.shape == (n, 32, 32, 3) and np.isfinite(out).all()


def test_unknown_transform_is_named():
    with pytest.raises(ValueError, match=r"'flip'.*Received: policy='color,flip'"):
        diff_augment(random_images(4, 32), "color,flip", seed())
