"""PatchGAN discriminators: a map of logits, one per overlapping patch of the input.

The 70×70 PatchGAN of Isola et al. / Zhu et al. (`basic` in their code): with
`disc_layers` = 3, convs C64-C128-C256 of stride 2, C512 of stride 1, then a 1-filter
conv, all 4×4 with one pixel of zero padding, so a 256 px image gives 30×30×1 logits and
each logit sees a 70×70 patch. The noise GAN's discriminator (`noise_gan.py`) is the same
network with batch norm and spectral normalisation on every conv.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from collections.abc import Callable

import keras

from painter.models.layers import SpectralNormalization, conv_init, instance_norm

if TYPE_CHECKING:  # for type hints only: the family module imports this one
    from painter.families.cyclegan import CycleGANConfig

DISC_NORMS = ("instance", "none")


def patchgan_output_size(image_size: int, layers: int) -> int:
    """Side of the logit map: `layers` halvings, then two 4×4 convs that each lose 1 px."""
    size = image_size
    for _ in range(layers):
        size = (size + 2 - 4) // 2 + 1
    return size - 2


def check_patchgan_args(image_size: int, filters: int, layers: int) -> None:
    """Raises ValueError for widths, depths or sizes that give no logit map."""
    if filters < 1:
        raise ValueError(f"`disc_filters` must be >= 1. Received: disc_filters={filters}")
    if layers < 1:
        raise ValueError(f"`disc_layers` must be >= 1. Received: disc_layers={layers}")
    if image_size < 1 or patchgan_output_size(image_size, layers) < 1:
        raise ValueError(
            f"`image_size` is too small for {layers} strided layers (the logit map would be "
            f"empty). Received: image_size={image_size}, disc_layers={layers}"
        )


def patchgan(
    image_size: int,
    filters: int,
    layers: int,
    norm: Callable[[str], keras.layers.Layer] | None,
    spectral_norm: bool,
    name: str,
    channels: int = 3,
    normed_conv_bias: bool = True,
) -> keras.Model:
    """A PatchGAN of `layers` strided 4×4 convs, one stride-1 conv and a 1-filter conv.

    Widths are filters·min(2^i, 8). `norm(name)` makes the norm layer after every conv but
    the first and the last (None: no norm). `spectral_norm` wraps every conv, the last one
    included, in `keras.layers.SpectralNormalization`; call the model with
    `training=True` when training, or the power iteration never runs. `channels` is the
    input's depth (6 for pix2pix's conditional discriminator, which sees input and output
    stacked); `normed_conv_bias=False` drops the bias of the convs a norm follows (the
    norm's offset makes it redundant), as Isola et al.'s code does with batch norm.
    """

    def conv(x, width: int, strides: int, block: str, dtype=None, use_bias=True):
        # Zero padding of 1 then a valid 4×4 conv, exactly the paper's padding=1.
        x = keras.layers.ZeroPadding2D(1, name=f"{block}_pad")(x)
        layer = keras.layers.Conv2D(
            width,
            4,
            strides=strides,
            use_bias=use_bias,
            kernel_initializer=conv_init(),
            dtype=dtype,
            name=f"{block}_conv",
        )
        if spectral_norm:
            layer = SpectralNormalization(layer, dtype=dtype, name=f"{block}_sn")
        return layer(x)

    image = keras.Input((image_size, image_size, channels), name=f"{name}_input")
    x = image
    for i in range(layers + 1):
        block = f"{name}_block{i + 1}"
        normed = i > 0 and norm is not None
        # The last block (stride 1) is C512 for the 70×70 PatchGAN.
        x = conv(x, filters * min(2**i, 8), 2 if i < layers else 1, block,
                 use_bias=normed_conv_bias or not normed)
        if normed:
            x = norm(f"{block}_norm")(x)
        x = keras.layers.LeakyReLU(0.2, name=f"{block}_lrelu")(x)
    # float32 logits under a mixed-precision policy, for stable losses.
    logits = conv(x, 1, 1, f"{name}_head", dtype="float32")
    return keras.Model(image, logits, name=name)


def patchgan_discriminator(config: CycleGANConfig, name: str = "disc_Y") -> keras.Model:
    """The 70×70 PatchGAN of Zhu et al. 2017 (their `basic` discriminator).

    C64-C128-C256 (stride 2), C512 (stride 1), then a 1-filter conv, all 4×4; no norm on
    the first conv, instance norm (affine, see `instance_norm`) on the others, LeakyReLU
    0.2, conv biases kept, weights from N(0, 0.02). 2,766,529 parameters at defaults:
    the paper's 2,764,737 plus 2 affine parameters per normalised channel.

    With `spectral_norm`, every conv is wrapped in `keras.layers.SpectralNormalization`
    and the instance norms are dropped: a per-channel renormalisation after each conv would
    undo the Lipschitz bound that spectral normalisation sets (as in Miyato et al.'s
    discriminators, which have no norm layers). Call it with `training=True` in a train
    step so the power iteration runs.

    With `disc_norm = "none"` there is no norm layer at all. Instance norm takes away each
    image's per-channel feature means, and with them most of its global colour and tone,
    which is what separates a Monet from a photo most plainly; a short run's discriminator
    learns faster without it (docs/BENCHMARKS.md, "Quality on a budget").

    Args:
        config: uses `image_size` (default 256), `disc_filters` (ndf, default 64),
            `disc_layers` (strided convs, default 3 = 70×70 patches), `disc_norm`
            ("instance", the default, or "none") and `spectral_norm` (default False).
        name: model name and prefix of every layer name. Defaults to "disc_Y".

    Returns:
        A `keras.Model` from (image_size, image_size, 3) images to (s, s, 1) float32
        logits, s = 30 at 256 px with 3 layers (`patchgan_output_size`).
    """
    check_patchgan_args(config.image_size, config.disc_filters, config.disc_layers)
    if config.disc_norm not in DISC_NORMS:
        raise ValueError(
            f"`disc_norm` must be one of {DISC_NORMS}. Received: disc_norm={config.disc_norm!r}"
        )
    plain = config.spectral_norm or config.disc_norm == "none"
    return patchgan(
        config.image_size,
        config.disc_filters,
        config.disc_layers,
        norm=None if plain else instance_norm,
        spectral_norm=config.spectral_norm,
        name=name,
    )
