"""The latent-noise GAN: a residual up-sampling generator against a spectral-norm PatchGAN.

The generator draws Monet-like images from latent vectors; it never sees a photo.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras

from painter.models.discriminators import check_patchgan_args, patchgan
from painter.models.layers import SpectralNormalization, conv_init

if TYPE_CHECKING:  # for type hints only: the family module imports this one
    from painter.families.noise_gan import NoiseGANConfig

MIN_CHANNELS = 32  # the up blocks halve the channels down to this floor


def _batch_norm(name: str) -> keras.layers.BatchNormalization:
    return keras.layers.BatchNormalization(name=name)


def _residual_up_block(x, filters: int, name: str):
    """×2 up-sampling with a residual skip.

    Main path: UpSampling2D, 3×3 conv, batch norm, LeakyReLU 0.2. Skip path: the
    up-sampled input, through a 1×1 conv only where the channel count changes (an identity
    skip otherwise, as in ResNets).
    """
    x = keras.layers.UpSampling2D(2, name=f"{name}_upsample")(x)
    main = keras.layers.Conv2D(
        filters, 3, padding="same", kernel_initializer=conv_init(), name=f"{name}_conv"
    )(x)
    main = _batch_norm(f"{name}_norm")(main)
    main = keras.layers.LeakyReLU(0.2, name=f"{name}_lrelu")(main)
    skip = x
    if x.shape[-1] != filters:
        skip = keras.layers.Conv2D(
            filters, 1, kernel_initializer=conv_init(), name=f"{name}_skip_conv"
        )(x)
    return keras.layers.Add(name=f"{name}_add")([main, skip])


def noise_generator(config: NoiseGANConfig, name: str = "noise_generator") -> keras.Model:
    """Latent vector → image, through residual up-sampling blocks.

    SpectralNormalization(Dense) → reshape to 4×4×gen_filters → log2(image_size / 4)
    residual up blocks (`_residual_up_block`; 6 at 256 px) whose channels halve each block,
    floored at 32 (512, 256, 128, 64, 32, 32 at defaults) → SpectralNormalization(3×3 conv
    to 3 channels) → tanh. Call it with `training=True` when training, so batch norm uses
    batch statistics and spectral normalisation updates.

    Args:
        config: uses `latent_dim` (default 128), `gen_filters` (channels at 4×4, default
            512) and `image_size` (default 256; a power of two >= 8).
        name: model name and prefix of every layer name. Defaults to "noise_generator".

    Returns:
        A `keras.Model` from (latent_dim,) latents to (image_size, image_size, 3) float32
        images in [-1, 1].
    """
    size = config.image_size
    if size < 8 or size & (size - 1):
        raise ValueError(
            f"`image_size` must be a power of two >= 8. Received: image_size={size}"
        )
    if config.latent_dim < 1:
        raise ValueError(f"`latent_dim` must be >= 1. Received: latent_dim={config.latent_dim}")
    if config.gen_filters < 1:
        raise ValueError(f"`gen_filters` must be >= 1. Received: gen_filters={config.gen_filters}")

    latent = keras.Input((config.latent_dim,), name=f"{name}_latent")
    channels = config.gen_filters
    x = SpectralNormalization(
        keras.layers.Dense(4 * 4 * channels, kernel_initializer=conv_init(), name=f"{name}_dense"),
        name=f"{name}_dense_sn",
    )(latent)
    x = keras.layers.Reshape((4, 4, channels), name=f"{name}_reshape")(x)
    blocks = (size // 4).bit_length() - 1
    for i in range(1, blocks + 1):
        channels = max(channels // 2, min(MIN_CHANNELS, config.gen_filters))
        x = _residual_up_block(x, channels, name=f"{name}_up{i}")
    x = SpectralNormalization(
        keras.layers.Conv2D(
            3, 3, padding="same", kernel_initializer=conv_init(), name=f"{name}_head_conv"
        ),
        name=f"{name}_head_sn",
    )(x)
    image = keras.layers.Activation("tanh", dtype="float32", name=f"{name}_tanh")(x)
    return keras.Model(latent, image, name=name)


def noise_discriminator(
    config: NoiseGANConfig, name: str = "noise_discriminator"
) -> keras.Model:
    """A PatchGAN with batch norm, every conv wrapped in SpectralNormalization.

    The 70×70 PatchGAN's layout (`discriminators.patchgan`): `disc_layers` strided 4×4
    convs then a stride-1 one, batch norm on all but the first, LeakyReLU 0.2, and a
    1-filter conv giving a map of patch logits (30×30 at 256 px). Call it with
    `training=True` in the train step, or the power iteration never runs.

    Args:
        config: uses `image_size` (default 256), `disc_filters` (default 64) and
            `disc_layers` (default 3).
        name: model name and prefix of every layer name. Defaults to
            "noise_discriminator".

    Returns:
        A `keras.Model` from (image_size, image_size, 3) images to (s, s, 1) float32
        logits.
    """
    check_patchgan_args(config.image_size, config.disc_filters, config.disc_layers)
    return patchgan(
        config.image_size,
        config.disc_filters,
        config.disc_layers,
        norm=_batch_norm,
        spectral_norm=True,
        name=name,
    )
