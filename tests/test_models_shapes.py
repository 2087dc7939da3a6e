"""Real sizes: parameter counts against the papers and output shapes at 256 px.

Zhu et al.'s counts are those their code prints (`[Network G_A] Total number of parameters :
11.378 M`, `[Network D_A] … 2.765 M`) for `resnet_9blocks` and `basic` with ngf = ndf = 64
and instance norm. Their `InstanceNorm2d` has no affine parameters and their convs keep
their biases; Keras' instance norm (`GroupNormalization(groups=-1)`) learns a scale and an
offset per channel, so the Keras count is the paper's plus 2 per normalised channel.
"""

import keras
import numpy as np
import pytest

from painter.config import CycleGANConfig, NoiseGANConfig
from painter.models.discriminators import patchgan_discriminator
from painter.models.generators import resnet_generator, unet_generator
from painter.models.noise_gan import noise_generator

# Real widths at 256 px: a few seconds each on a CPU.
pytestmark = pytest.mark.slow


def affine_norm_params(model):
    norms = [l for l in model.layers if isinstance(l, keras.layers.GroupNormalization)]
    return sum(l.count_params() for l in norms)


def photos(n=1, size=256):
    return np.random.default_rng(0).uniform(-1, 1, (n, size, size, 3)).astype("float32")


def test_resnet9_at_256_has_zhu_et_al_parameter_count():
    model = resnet_generator(CycleGANConfig())  # 256 px, ngf 64, 9 blocks
    # Normalised channels: 64 + 128 + 256 + 9·2·256 + 128 + 64 = 5,248 → 10,496 affine.
    assert affine_norm_params(model) == 2 * 5_248 == 10_496
    assert model.count_params() == 11_388_675
    assert model.count_params() - affine_norm_params(model) == 11_378_179  # the paper's
    out = keras.ops.convert_to_numpy(model(photos()))
    assert out.shape == (1, 256, 256, 3) and np.abs(out).max() <= 1.0


def test_patchgan_70x70_at_256():
    model = patchgan_discriminator(CycleGANConfig())
    # Normalised channels: 128 + 256 + 512 = 896 → 1,792 affine parameters.
    assert affine_norm_params(model) == 1_792
    assert model.count_params() == 2_766_529
    assert model.count_params() - affine_norm_params(model) == 2_764_737  # the paper's 2.765 M
    assert tuple(model(photos()).shape) == (1, 30, 30, 1)


def test_unet_at_256():
    model = unet_generator(CycleGANConfig(generator="unet"))
    # The TensorFlow pix2pix generator / the starter notebook print 54,414,979; ours
    # lacks the 2·512 affine parameters of the norm on the 1×1 bottleneck (see the
    # builder's docstring for why).
    assert model.count_params() == 54_414_979 - 1_024
    out = keras.ops.convert_to_numpy(model(photos(), training=True))
    assert out.shape == (1, 256, 256, 3) and np.abs(out).max() <= 1.0


def test_noise_generator_at_256():
    model = noise_generator(NoiseGANConfig())
    convs = [l for l in model.layers if l.name.endswith("_conv") and "skip" not in l.name]
    assert [c.filters for c in convs] == [256, 128, 64, 32, 32, 32]  # 6 up blocks
    latents = np.random.default_rng(0).normal(size=(2, 128)).astype("float32")
    out = keras.ops.convert_to_numpy(model(latents, training=True))
    assert out.shape == (2, 256, 256, 3)
    assert np.abs(out).max() <= 1.0 and out.std() > 0.0
