"""GAN losses on hand-checkable logits; every one is per example, in float32."""

import math

import keras
import numpy as np
import pytest

from painter.models.losses import (
    LOSSES,
    cycle_loss,
    discriminator_loss,
    generator_loss,
    identity_loss,
)


def value(x):
    return keras.ops.convert_to_numpy(x)


def logits(*per_example):
    """(batch, 1, n, 1) patch maps, like a PatchGAN's, from per-example lists."""
    return np.array(per_example, "float32")[:, None, :, None]


def test_lsgan():
    np.testing.assert_allclose(value(generator_loss("lsgan", logits([1, 1], [0, 2]))), [0, 1])
    d = discriminator_loss("lsgan", logits([1, 1], [0, 0]), logits([0, 0], [1, 1]))
    # ½·[(real−1)² + fake²]: perfect D → 0; D exactly wrong → ½·(1 + 1).
    np.testing.assert_allclose(value(d), [0, 1])


def test_bce():
    ln2 = math.log(2)
    np.testing.assert_allclose(value(generator_loss("bce", logits([0, 0]))), [ln2], rtol=1e-6)
    d = discriminator_loss("bce", logits([0, 0]), logits([0, 0]))
    np.testing.assert_allclose(value(d), [ln2], rtol=1e-6)  # ½·(ln 2 + ln 2)
    # Stable for huge logits: −log σ(−1000) = 1000, not inf.
    np.testing.assert_allclose(value(generator_loss("bce", logits([-1000.0]))), [1000.0])
    np.testing.assert_allclose(value(generator_loss("bce", logits([1000.0]))), [0.0], atol=1e-6)
    d = discriminator_loss("bce", logits([1000.0]), logits([1000.0]))
    np.testing.assert_allclose(value(d), [500.0])


def test_hinge():
    np.testing.assert_allclose(value(generator_loss("hinge", logits([2, -4]))), [1])
    d = discriminator_loss("hinge", logits([2, 0.5]), logits([-3, 0]))
    # mean(relu(1 − real)) = (0 + 0.5)/2, mean(relu(1 + fake)) = (0 + 1)/2; no ½ factor.
    np.testing.assert_allclose(value(d), [0.75])


@pytest.mark.parametrize("kind", LOSSES)
def test_per_example_float32(kind):
    real = np.random.default_rng(0).normal(size=(3, 30, 30, 1)).astype("float16")
    fake = np.random.default_rng(1).normal(size=(3, 30, 30, 1)).astype("float16")
    g = generator_loss(kind, fake)
    d = discriminator_loss(kind, real, fake)
    for loss in (g, d):
        assert tuple(loss.shape) == (3,)
        assert keras.backend.standardize_dtype(loss.dtype) == "float32"
    # Per example means each entry depends on its own example only.
    g0 = generator_loss(kind, fake[:1])
    np.testing.assert_allclose(value(g)[:1], value(g0), rtol=1e-6)


def test_unknown_kind_is_named():
    with pytest.raises(ValueError, match=r"Received: kind='wgan'"):
        generator_loss("wgan", logits([0]))
    with pytest.raises(ValueError, match=r"Received: kind='wgan'"):
        discriminator_loss("wgan", logits([0]), logits([0]))


@pytest.mark.parametrize("loss", [cycle_loss, identity_loss])
def test_l1_per_example(loss):
    real = np.zeros((2, 4, 4, 3), "float32")
    other = real.copy()
    other[0] = 0.5
    other[1, 0, 0, 0] = -4.8  # one pixel off by 4.8 of 48 values
    np.testing.assert_allclose(value(loss(real, other)), [0.5, 0.1], rtol=1e-6)
