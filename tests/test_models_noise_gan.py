"""The latent-noise GAN at tiny widths: up blocks, channel schedule, spectral norm."""

import dataclasses

import keras
import numpy as np
import pytest

from conftest import layers_of
from painter.config import NoiseGANConfig
from painter.models.layers import SpectralNormalization
from painter.models.noise_gan import noise_discriminator, noise_generator

TINY = NoiseGANConfig(image_size=32, latent_dim=8, gen_filters=16, disc_filters=4)


def latents(n=2, dim=8, seed=0):
    return np.random.default_rng(seed).normal(size=(n, dim)).astype("float32")


def block_convs(model):
    return [l for l in layers_of(model, keras.layers.Conv2D) if l.name.endswith("_conv")
            and "skip" not in l.name]


def test_generator_layout():
    model = noise_generator(TINY, name="gen")
    assert model.name == "gen" and model.input_shape == (None, 8)
    dense = model.get_layer("gen_dense_sn")
    assert isinstance(dense, SpectralNormalization)
    assert dense.layer.units == 4 * 4 * 16
    assert model.get_layer("gen_reshape").output.shape[1:] == (4, 4, 16)
    # log2(32 / 4) = 3 up blocks: 4 → 8 → 16 → 32 px; the floor is min(32, gen_filters).
    convs = block_convs(model)
    assert [c.filters for c in convs] == [16, 16, 16]
    assert [c.kernel_size for c in convs] == [(3, 3)] * 3
    assert len(layers_of(model, keras.layers.BatchNormalization)) == 3
    assert len(layers_of(model, keras.layers.UpSampling2D)) == 3
    head = model.get_layer("gen_head_sn")
    assert isinstance(head, SpectralNormalization) and head.layer.filters == 3
    out = keras.ops.convert_to_numpy(model(latents(), training=True))
    assert out.shape == (2, 32, 32, 3) and out.dtype == np.float32
    assert np.abs(out).max() <= 1.0 and out.std() > 0


def test_channels_halve_per_block_floored_at_32():
    config = dataclasses.replace(TINY, image_size=128, gen_filters=256)
    model = noise_generator(config)
    assert [c.filters for c in block_convs(model)] == [128, 64, 32, 32, 32]
    # The skip path matches channels with a 1×1 conv only where they change.
    skips = [l for l in model.layers if l.name.endswith("_skip_conv")]
    assert [(s.filters, s.kernel_size) for s in skips] == [(128, (1, 1)), (64, (1, 1)),
                                                             (32, (1, 1))]


def test_skip_path_carries_the_upsampled_input():
    model = noise_generator(TINY)
    conv = model.get_layer("noise_generator_up1_conv")
    conv.set_weights([np.zeros_like(w) for w in conv.get_weights()])
    # With the main path's conv at zero, batch norm (inference, fresh statistics) and
    # LeakyReLU give exactly 0, so the block's output is its skip path alone: the input
    # up-sampled ×2 (an identity skip, as the channels do not change here).
    probe = keras.Model(model.input, [model.get_layer("noise_generator_reshape").output,
                                      model.get_layer("noise_generator_up1_add").output])
    small, block = (keras.ops.convert_to_numpy(t) for t in probe(latents(), training=False))
    assert block.shape == (2, 8, 8, 16)
    np.testing.assert_allclose(block, small.repeat(2, axis=1).repeat(2, axis=2), atol=1e-6)


def test_discriminator_has_spectral_norm_on_every_conv_and_batch_norm():
    model = noise_discriminator(TINY, name="disc")
    wrappers = layers_of(model, SpectralNormalization)
    assert len(wrappers) == TINY.disc_layers + 2 and not layers_of(model, keras.layers.Conv2D)
    assert [w.layer.strides for w in wrappers] == [(2, 2)] * 3 + [(1, 1)] * 2
    norms = layers_of(model, keras.layers.BatchNormalization)
    assert [n.name for n in norms] == [f"disc_block{i}_norm" for i in (2, 3, 4)]
    images = np.random.default_rng(1).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    assert tuple(model(images, training=True).shape) == (2, 2, 2, 1)


@pytest.mark.parametrize(
    "changes, match",
    [
        (dict(image_size=48), r"Received: image_size=48"),
        (dict(image_size=4), r"Received: image_size=4"),
        (dict(latent_dim=0), r"Received: latent_dim=0"),
        (dict(gen_filters=0), r"Received: gen_filters=0"),
    ],
)
def test_generator_rejects_bad_config(changes, match):
    with pytest.raises(ValueError, match=match):
        noise_generator(dataclasses.replace(TINY, **changes))


def test_discriminator_rejects_bad_config():
    with pytest.raises(ValueError, match=r"Received: disc_layers=0"):
        noise_discriminator(dataclasses.replace(TINY, disc_layers=0))
