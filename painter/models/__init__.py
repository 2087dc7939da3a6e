"""Keras 3 builders for painter's GANs, written with `keras.ops` (no TensorFlow inside).

- `generators`: `resnet_generator`, `unet_generator`, `GENERATORS`, `build_generator`
- `discriminators`: `patchgan_discriminator` (70×70 PatchGAN)
- `noise_gan`: `noise_generator`, `noise_discriminator`
- `losses`: per-example `generator_loss`, `discriminator_loss`, `cycle_loss`, `identity_loss`
- `diffaugment`: `diff_augment` (Zhao et al. 2020)
- `perceptual`: `vgg19_features`, `perceptual_loss` (imported on demand: it is optional)
- `layers`: `ReflectionPadding2D`, `ResidualOutput`, `instance_norm`
"""

from painter.models.diffaugment import diff_augment
from painter.models.discriminators import patchgan_discriminator
from painter.models.generators import GENERATORS, build_generator, resnet_generator, unet_generator
from painter.models.layers import ReflectionPadding2D, ResidualOutput, instance_norm
from painter.models.losses import (
    LOSSES,
    cycle_loss,
    discriminator_loss,
    generator_loss,
    identity_loss,
)
from painter.models.noise_gan import noise_discriminator, noise_generator

__all__ = [
    "GENERATORS",
    "LOSSES",
    "ReflectionPadding2D",
    "ResidualOutput",
    "build_generator",
    "cycle_loss",
    "diff_augment",
    "discriminator_loss",
    "generator_loss",
    "identity_loss",
    "instance_norm",
    "noise_discriminator",
    "noise_generator",
    "patchgan_discriminator",
    "resnet_generator",
    "unet_generator",
]
