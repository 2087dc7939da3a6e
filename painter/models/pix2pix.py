"""The networks of pix2pix (Isola et al. 2017): the U-Net-256 generator and the
conditional 70×70 PatchGAN.

Names map to the paper and to its code (junyanz/pytorch-CycleGAN-and-pix2pix,
`networks.py`): `unet_generator` is `unet_256` (`UnetGenerator` with 8 downs at 256 px),
`conditional_patchgan` is `basic` (`NLayerDiscriminator` with 3 layers) fed the input and
the output stacked on channels (`input_nc + output_nc` = 6).

Normalisation is per image (instance norm with a learned scale and offset,
`painter.models.layers.instance_norm`). The paper trains with batch norm at batch size 1
and normalises with the test batch's statistics at test time, which the paper itself
calls instance normalisation; per-image statistics keep that meaning at any batch size,
and keep a step on N replicas equal to one step on one device with the same global batch.
The parameter counts equal the paper code's with batch norm (whose trainable parameters
are the same scale and offset; its running statistics are buffers, not parameters).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras

from painter.models.discriminators import check_patchgan_args, patchgan
from painter.models.layers import conv_init, instance_norm

if TYPE_CHECKING:  # for type hints only: the family module imports this one
    from painter.families.pix2pix import Pix2PixConfig

# The decoder blocks nearest the bottleneck that keep dropout, also when generating: the
# paper's noise source ("dropout, applied on several layers of our generator at both
# training and test time").
DROPOUT_BLOCKS = 3


@keras.saving.register_keras_serializable(package="painter")
class GenerationDropout(keras.layers.Dropout):
    """Dropout that stays on outside training, as pix2pix's generator generates.

    A plain `Dropout` called with `training=True` inside a functional model is still
    switched off when the model is called with `training=False` (Keras passes the outer
    value down), so the flag is ignored here instead.
    """

    def call(self, inputs, training=None):
        return super().call(inputs, training=True)


def unet_widths(image_size: int, ngf: int) -> list[int]:
    """Down-block widths ngf·(1, 2, 4, 8, 8, …): one stride-2 block per halving down to
    1×1, so 8 blocks at 256 px (the paper's encoder C64-C128-C256-C512-C512-C512-C512-C512)."""
    levels = image_size.bit_length() - 1
    return [ngf * min(2**i, 8) for i in range(levels)]


def check_unet_args(image_size: int, ngf: int, dropout: float) -> None:
    """Raises ValueError for sizes, widths or dropout rates the U-Net cannot have."""
    if image_size < 8 or image_size & (image_size - 1):
        raise ValueError(
            f"The U-Net needs a power-of-two `image_size` >= 8. Received: image_size={image_size}"
        )
    if ngf < 1:
        raise ValueError(f"`gen_filters` must be >= 1. Received: gen_filters={ngf}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout}")


def unet_generator(config: Pix2PixConfig, name: str = "generator") -> keras.Model:
    """The U-Net generator of Isola et al. 2017 (`unet_256` of their code at 256 px).

    Encoder: 4×4 stride-2 convs of ngf·(1, 2, 4, 8, 8, 8, 8, 8) filters down to 1×1, each
    but the first preceded by LeakyReLU 0.2 and each but the first and the innermost
    followed by a norm. Decoder: ReLU, 4×4 stride-2 transposed conv, norm, back up to the
    input size; each decoder block's output is joined (concatenated on channels) with
    the encoder's activation of the same size, and the last transposed conv (3 filters,
    with bias) ends in tanh. No other conv has a bias: the norm's offset replaces it.

    Dropout (rate `dropout`) follows the norm of the first `DROPOUT_BLOCKS` decoder blocks,
    the paper's "CD512-CD512-CD512" (its code puts the three in the 512-wide blocks after
    the innermost one instead); it stays on when the generator is called with
    `training=False`, as the paper generates. `dropout = 0` builds no dropout layer.

    54,413,955 parameters at 256 px with ngf 64, the count of the paper's code
    (`UnetGenerator` with batch norm, counted block by block in tests/test_pix2pix.py).
    54,414,979 is that plus a norm (2 × 512) on the innermost down block, which the Kaggle
    starter notebook has and the paper's code has not.

    Args:
        config: uses `image_size` (a power of two >= 8: one down block per halving, so 8 at
            256 px and 7 at 128 px), `gen_filters` (ngf, default 64), `dropout` (default
            0.5) and `seed` (the dropout masks' seed).
        name: model name and prefix of every layer name. Defaults to "generator".

    Returns:
        A `keras.Model` from (image_size, image_size, 3) in [-1, 1] to the same.
    """
    check_unet_args(config.image_size, config.gen_filters, config.dropout)
    widths = unet_widths(config.image_size, config.gen_filters)
    levels = len(widths)
    image = keras.Input((config.image_size, config.image_size, 3), name=f"{name}_input")
    x = image
    skips = []
    for i, width in enumerate(widths, start=1):
        if i > 1:
            x = keras.layers.LeakyReLU(0.2, name=f"{name}_down{i}_lrelu")(x)
            # The decoder joins the activation, not the norm's output (the paper's code
            # applies this LeakyReLU in place, so its skip carries it too).
            skips.append(x)
        x = keras.layers.Conv2D(width, 4, strides=2, padding="same", use_bias=False,
                                kernel_initializer=conv_init(), name=f"{name}_down{i}_conv")(x)
        # Not on the innermost 1×1 block: per-image statistics of one pixel would make it a
        # constant and cut the bottleneck off.
        if 1 < i < levels:
            x = instance_norm(f"{name}_down{i}_norm")(x)
    # Decoder block k (k = 1 at the bottleneck) up-samples to the size of encoder block
    # levels − k and takes that block's width.
    for k, (width, skip) in enumerate(zip(widths[-2::-1], skips[::-1]), start=1):
        x = keras.layers.ReLU(name=f"{name}_up{k}_relu")(x)
        x = keras.layers.Conv2DTranspose(width, 4, strides=2, padding="same", use_bias=False,
                                         kernel_initializer=conv_init(),
                                         name=f"{name}_up{k}_conv")(x)
        x = instance_norm(f"{name}_up{k}_norm")(x)
        if k <= DROPOUT_BLOCKS and config.dropout > 0:
            x = GenerationDropout(config.dropout, seed=config.seed + k,
                                  name=f"{name}_up{k}_dropout")(x)
        x = keras.layers.Concatenate(name=f"{name}_up{k}_concat")([skip, x])
    x = keras.layers.ReLU(name=f"{name}_head_relu")(x)
    x = keras.layers.Conv2DTranspose(3, 4, strides=2, padding="same",
                                     kernel_initializer=conv_init(), name=f"{name}_head_conv")(x)
    x = keras.layers.Activation("tanh", dtype="float32", name=f"{name}_head_tanh")(x)
    return keras.Model(image, x, name=name)


def conditional_patchgan(config: Pix2PixConfig, name: str = "discriminator") -> keras.Model:
    """The conditional 70×70 PatchGAN of Isola et al. 2017 (`basic`, 3 layers).

    It judges a pair: the generator's input and an output (real or generated) stacked on
    channels, (image_size, image_size, 6). C64-C128-C256 (stride 2), C512 (stride 1), then
    a 1-filter conv, all 4×4; no norm on the first conv, instance norm on the others (whose
    convs then have no bias, as the paper's code with batch norm), LeakyReLU 0.2.
    2,768,705 parameters at defaults, the count of the paper's code.

    Args:
        config: uses `image_size`, `disc_filters` (ndf, default 64) and `disc_layers`
            (strided convs, default 3 = 70×70 patches).
        name: model name and prefix of every layer name. Defaults to "discriminator".

    Returns:
        A `keras.Model` from (image_size, image_size, 6) pairs to (s, s, 1) float32 logits,
        s = 30 at 256 px (`painter.models.discriminators.patchgan_output_size`).
    """
    check_patchgan_args(config.image_size, config.disc_filters, config.disc_layers)
    return patchgan(config.image_size, config.disc_filters, config.disc_layers,
                    norm=instance_norm, spectral_norm=False, name=name, channels=6,
                    normed_conv_bias=False)
