"""`model.save(".keras")` → `keras.models.load_model` gives the same model, for every
builder and option, without custom_objects."""

import keras
import numpy as np
import pytest

from conftest import tiny_cyclegan
from painter.config import NoiseGANConfig
from painter.models.discriminators import patchgan_discriminator
from painter.models.generators import build_generator
from painter.models.noise_gan import noise_discriminator, noise_generator

NOISE = NoiseGANConfig(image_size=16, latent_dim=8, gen_filters=16, disc_filters=4, disc_layers=2)


def perturb(model, seed=0):
    """Non-zero weights everywhere (a residual head starts at zero, which would hide a
    loading bug), as after some training."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        if weight.trainable:
            weight.assign(weight.numpy() + rng.normal(0, 0.01, weight.shape).astype("float32"))


BUILDERS = {
    "resnet": lambda: build_generator(tiny_cyclegan(), "gen_G"),
    "unet-residual-resize": lambda: build_generator(
        tiny_cyclegan(generator="unet", output="residual", upsample="resize"), "gen_F"
    ),
    "resnet-residual-scale": lambda: build_generator(
        tiny_cyclegan(output="residual", residual_scale=16), "gen_G"
    ),
    "patchgan": lambda: patchgan_discriminator(tiny_cyclegan(), "disc_X"),
    "patchgan-sn": lambda: patchgan_discriminator(
        tiny_cyclegan(spectral_norm=True), "disc_Y"
    ),
    "noise-generator": lambda: noise_generator(NOISE),
    "noise-discriminator": lambda: noise_discriminator(NOISE),
}


@pytest.mark.parametrize("kind", BUILDERS)
def test_save_load_round_trip(kind, tmp_path):
    model = BUILDERS[kind]()
    perturb(model)
    shape = (2,) + tuple(model.input_shape[1:])
    inputs = np.random.default_rng(1).uniform(-1, 1, shape).astype("float32")
    model(inputs, training=True)  # move batch-norm statistics and spectral-norm vectors
    path = tmp_path / f"{kind}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.name == model.name
    assert [l.name for l in loaded.layers] == [l.name for l in model.layers]
    for a, b in zip(loaded.weights, model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=b.path)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(inputs, training=False)),
        keras.ops.convert_to_numpy(model(inputs, training=False)),
        atol=1e-6,
    )
