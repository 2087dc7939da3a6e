"""The 70×70 PatchGAN at tiny widths: layout, receptive field, spectral norm, errors."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import layers_of, random_images, tiny_cyclegan
from painter.models.discriminators import patchgan_discriminator, patchgan_output_size
from painter.models.layers import SpectralNormalization

TINY = tiny_cyclegan(image_size=64, disc_layers=3)  # the 70×70 PatchGAN's layers


def test_layout_c64_c128_c256_c512():
    model = patchgan_discriminator(TINY, name="disc_X")
    assert model.name == "disc_X"
    convs = layers_of(model, keras.layers.Conv2D)
    assert [(c.filters, c.kernel_size, c.strides) for c in convs] == [
        (4, (4, 4), (2, 2)),
        (8, (4, 4), (2, 2)),
        (16, (4, 4), (2, 2)),
        (32, (4, 4), (1, 1)),
        (1, (4, 4), (1, 1)),
    ]
    norms = layers_of(model, keras.layers.GroupNormalization)
    # Instance norm on C128, C256, C512; none on the first conv nor the logits.
    assert [n.name for n in norms] == [f"disc_X_block{i}_norm" for i in (2, 3, 4)]
    assert all(n.groups == n.output.shape[-1] for n in norms)
    slopes = [l.negative_slope for l in layers_of(model, keras.layers.LeakyReLU)]
    assert slopes == pytest.approx([0.2] * 4)
    out = model(random_images(2, 64))
    assert tuple(out.shape) == (2, 6, 6, 1)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"


@pytest.mark.parametrize("size, layers", [(64, 1), (64, 2), (64, 3), (128, 4), (256, 3)])
def test_output_size(size, layers):
    config = dataclasses.replace(TINY, image_size=size, disc_layers=layers, disc_filters=1)
    model = patchgan_discriminator(config)
    assert model.output_shape[1:] == (patchgan_output_size(size, layers),) * 2 + (1,)
    assert len(layers_of(model, keras.layers.Conv2D)) == layers + 2


def test_receptive_field_is_70x70():
    # Without norms (spectral-norm variant) every logit depends on its patch only.
    config = dataclasses.replace(TINY, image_size=128, spectral_norm=True)
    model = patchgan_discriminator(config)
    x = tf.constant(random_images(1, 128))
    with tf.GradientTape() as tape:
        tape.watch(x)
        logit = model(x)[0, 7, 7, 0]
    grad = np.abs(tape.gradient(logit, x).numpy()).sum(axis=(0, 3))
    rows = np.flatnonzero(grad.sum(axis=1))
    cols = np.flatnonzero(grad.sum(axis=0))
    assert rows[-1] - rows[0] + 1 == 70 and cols[-1] - cols[0] + 1 == 70


def test_spectral_norm_wraps_every_conv_and_drops_norms():
    model = patchgan_discriminator(dataclasses.replace(TINY, spectral_norm=True), "disc_Y")
    wrappers = layers_of(model, SpectralNormalization)
    assert len(wrappers) == TINY.disc_layers + 2
    assert all(isinstance(w.layer, keras.layers.Conv2D) for w in wrappers)
    assert not layers_of(model, keras.layers.Conv2D)  # no unwrapped conv
    assert not layers_of(model, keras.layers.GroupNormalization)
    # The power iteration runs with training=True only.
    u = wrappers[1].vector_u
    before = keras.ops.convert_to_numpy(u).copy()
    model(random_images(2, 64), training=False)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(u), before)
    model(random_images(2, 64), training=True)
    assert not np.allclose(keras.ops.convert_to_numpy(u), before)


def test_disc_norm_none_keeps_the_convs_and_drops_every_norm():
    plain = patchgan_discriminator(dataclasses.replace(TINY, disc_norm="none"))
    normed = patchgan_discriminator(TINY)
    assert not layers_of(plain, keras.layers.GroupNormalization)
    assert [c.filters for c in layers_of(plain, keras.layers.Conv2D)] == [4, 8, 16, 32, 1]
    # Only the affine γ, β of the three instance norms (8 + 16 + 32 channels) are gone.
    assert normed.count_params() - plain.count_params() == 2 * (8 + 16 + 32)
    assert tuple(plain(random_images(2, 64)).shape) == (2, 6, 6, 1)


@pytest.mark.parametrize(
    "changes, match",
    [
        (dict(disc_norm="batch"), r"Received: disc_norm='batch'"),
        (dict(disc_layers=0), r"Received: disc_layers=0"),
        (dict(disc_filters=0), r"Received: disc_filters=0"),
        (dict(image_size=16), r"Received: image_size=16, disc_layers=3"),
    ],
)
def test_rejects_bad_config(changes, match):
    with pytest.raises(ValueError, match=match):
        patchgan_discriminator(dataclasses.replace(TINY, **changes))


@pytest.mark.parametrize("spectral_norm", [False, True])
def test_mixed_precision_logits_are_float32(spectral_norm):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = patchgan_discriminator(dataclasses.replace(TINY, spectral_norm=spectral_norm))
        assert model.get_layer("disc_Y_block1_lrelu").compute_dtype == "float16"
        out = model(random_images(2, 64), training=True)
        assert keras.backend.standardize_dtype(out.dtype) == "float32"
    finally:
        keras.config.set_dtype_policy(previous)
