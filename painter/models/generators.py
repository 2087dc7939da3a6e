"""Image-to-image generators of the CycleGAN family: `resnet` (Zhu et al. 2017) and `unet`
(the competition's starter notebook, after pix2pix).

Every generator maps (image_size, image_size, 3) images in [-1, 1] to images of the same
shape in [-1, 1]. Three `CycleGANConfig` fields shape all of them:

- `upsample`: "transpose" (strided `Conv2DTranspose`, as the papers) or "resize" (bilinear
  `UpSampling2D` then a 3×3 conv, which cannot make checkerboard artefacts).
- `output`: "tanh" (the papers) or "residual": the network predicts a residual `r` (its
  last conv, linear) and the generator returns `clip(input + r, -1, 1)`. That conv starts
  at zero, so an untrained generator returns its input exactly and training starts from
  the photo; its own gradient is not zero, so the rest of the network follows after the
  first step.
- `residual_scale` (needs `output="residual"`): when > 0, the network runs on the input
  average-pooled down to `residual_scale` px; its residual is up-sampled bilinearly and
  added to the full-size input, so the output keeps every detail of the photo that the
  network does not change.
- `tone_curve` (needs `output="residual"`): when > 0, the residual is added to the input
  passed through a learned per-channel curve of that many segments (`ToneCurve`) instead
  of the input itself. A hundred-odd parameters hold the global colour and tone shift from
  photos to Monets, the cheapest part of the style; the curve starts as the identity, or
  (`tone_curve_init = "match"`, set by training) as the histogram match of the training
  photos to the Monets.
- `color_transfer` (needs `output="residual"`): "lab" adds the residual to the input after
  `LabColorTransfer`, each image's Lab mean and standard deviation moved onto the target
  domain's (set by training from the data, trainable after). An untrained generator is
  then exactly the `color-match` baseline (Reinhard et al. 2001), the strongest cheap
  baseline measured (docs/BENCHMARKS.md), and training can only be judged against it. A tone curve
  (`tone_curve_init = "identity"`) may follow it.
- `base` (needs `output="residual"`): "stylizer" adds gen_G's residual to the photo painted
  by the pretrained arbitrary style network (`painter.models.stylizer`), whose style input
  is the photo's own style vector moved toward a Monet's (`StyleMix`: `s = s_photo +
  strength · (s_monet − s_photo) + offset`, a random training Monet per example in
  training). With `color_transfer = "lab"` the Lab transfer follows the stylizer
  (`base_order = "stylize_first"`) or precedes it ("color_first"). Strength and offset
  train; the transformer trains when `base_trainable` (at `base_lr_multiplier` times the
  rate); the style predictor never does. An untrained generator is exactly the `painter
  baseline stylize` model of the same settings (`stylizer_painter`). Only gen_G gets the
  base: it paints toward Monet, while gen_F (Monet → photo) keeps the photo.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from collections.abc import Callable

import keras

from painter.models.layers import (
    LabColorTransfer,
    ReflectionPadding2D,
    ResidualOutput,
    StyleMix,
    ToneCurve,
    conv_init,
    instance_norm,
)

if TYPE_CHECKING:  # for type hints only: the family module imports this one
    from painter.families.cyclegan import CycleGANConfig

UPSAMPLE_MODES = ("transpose", "resize")
OUTPUT_MODES = ("tanh", "residual")


# ---- blocks ---------------------------------------------------------------------------


def _residual_block(x, filters: int, name: str):
    """Zhu et al.'s residual block: two reflection-padded 3×3 convs with instance norm."""
    shortcut = x
    x = ReflectionPadding2D(1, name=f"{name}_pad1")(x)
    x = keras.layers.Conv2D(filters, 3, kernel_initializer=conv_init(), name=f"{name}_conv1")(x)
    x = instance_norm(f"{name}_norm1")(x)
    x = keras.layers.ReLU(name=f"{name}_relu1")(x)
    x = ReflectionPadding2D(1, name=f"{name}_pad2")(x)
    x = keras.layers.Conv2D(filters, 3, kernel_initializer=conv_init(), name=f"{name}_conv2")(x)
    x = instance_norm(f"{name}_norm2")(x)
    return keras.layers.Add(name=f"{name}_add")([shortcut, x])


def _upsample_conv(x, filters: int, kernel_size: int, upsample: str, name: str, **conv_kwargs):
    """×2 up-sampling conv: a strided transposed conv, or bilinear resize then a 3×3 conv.

    The resize form always uses a 3×3 kernel: an even kernel with "same" padding would shift
    the image by half a pixel.
    """
    if upsample == "transpose":
        return keras.layers.Conv2DTranspose(
            filters, kernel_size, strides=2, padding="same", name=f"{name}_conv", **conv_kwargs
        )(x)
    x = keras.layers.UpSampling2D(2, interpolation="bilinear", name=f"{name}_resize")(x)
    return keras.layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv", **conv_kwargs)(x)


def _output_head(x, residual: bool, name: str):
    """The last layer's activation: tanh, or nothing for a residual (added later)."""
    if residual:
        return x
    return keras.layers.Activation("tanh", dtype="float32", name=f"{name}_tanh")(x)


def _last_conv_kwargs(residual: bool) -> dict:
    """A residual generator's last conv starts at zero, so it begins as the identity."""
    if residual:
        return {"kernel_initializer": "zeros", "bias_initializer": "zeros"}
    return {"kernel_initializer": conv_init()}


# ---- networks (tensor → tensor, at the working size) ---------------------------------


def check_generator_config(config: CycleGANConfig) -> None:
    """Raises ValueError for generator settings that cannot go together (`load_config`
    reports them as config errors before anything is built)."""
    if config.gen_filters < 1:
        raise ValueError(f"`gen_filters` must be >= 1. Received: gen_filters={config.gen_filters}")
    if config.upsample not in UPSAMPLE_MODES:
        raise ValueError(
            f"`upsample` must be one of {UPSAMPLE_MODES}. Received: upsample={config.upsample!r}"
        )
    if config.output not in OUTPUT_MODES:
        raise ValueError(
            f"`output` must be one of {OUTPUT_MODES}. Received: output={config.output!r}"
        )
    if config.residual_scale < 0:
        raise ValueError(
            f"`residual_scale` must be >= 0. Received: residual_scale={config.residual_scale}"
        )
    if config.residual_scale and config.output != "residual":
        raise ValueError(
            '`residual_scale` > 0 needs output="residual" (the network makes a residual '
            "that is up-sampled onto the full-size input). "
            f"Received: residual_scale={config.residual_scale}, output={config.output!r}"
        )
    if config.tone_curve < 0:
        raise ValueError(f"`tone_curve` must be >= 0. Received: tone_curve={config.tone_curve}")
    if config.tone_curve and config.output != "residual":
        raise ValueError(
            '`tone_curve` > 0 needs output="residual" (the residual is added to the '
            f"tone-mapped input). Received: tone_curve={config.tone_curve}, "
            f"output={config.output!r}"
        )
    if config.color_transfer != "none" and config.output != "residual":
        raise ValueError(
            '`color_transfer` needs output="residual" (the residual is added to the '
            f"colour-transferred input). Received: color_transfer={config.color_transfer!r}, "
            f"output={config.output!r}"
        )
    if config.color_transfer != "none" and config.tone_curve and config.tone_curve_init == "match":
        raise ValueError(
            '`tone_curve_init = "match"` matches the raw photos\' histograms, so it cannot follow '
            '`color_transfer`; use tone_curve_init = "identity" with it'
        )
    _check_base(config)
    if config.residual_scale and (
        config.residual_scale >= config.image_size or config.image_size % config.residual_scale
    ):
        raise ValueError(
            "`residual_scale` must be smaller than `image_size` and divide it. "
            f"Received: residual_scale={config.residual_scale}, image_size={config.image_size}"
        )


def base_strengths(config: CycleGANConfig) -> tuple[float, ...]:
    """The strengths a stylizer-based run tries at its start: `base_strength` when set,
    else the comma-separated `base_strengths`."""
    if config.base_strength:
        return (float(config.base_strength),)
    try:
        values = tuple(float(v) for v in config.base_strengths.split(",") if v.strip())
    except ValueError:
        values = ()
    if not values:
        raise ValueError(
            "`base_strengths` must be comma-separated numbers, e.g. \"0.25,0.5,0.75\". "
            f"Received: base_strengths={config.base_strengths!r}"
        )
    return values


def _check_base(config: CycleGANConfig) -> None:
    if config.base == "photo":
        return
    if config.output != "residual":
        raise ValueError(
            f'`base = "{config.base}"` needs output="residual" (the residual is added to the '
            f"stylized photo). Received: output={config.output!r}"
        )
    if config.tone_curve and config.tone_curve_init == "match":
        raise ValueError(
            '`tone_curve_init = "match"` matches the raw photos\' histograms, so it cannot follow '
            'the stylizer base; use tone_curve_init = "identity" with it'
        )
    if config.base_order == "color_first" and config.color_transfer == "none":
        raise ValueError(
            '`base_order = "color_first"` puts the colour transfer before the stylizer, so it '
            'needs color_transfer = "lab". Received: color_transfer="none"'
        )
    for strength in base_strengths(config):
        if not 0.0 <= strength <= 1.0:
            raise ValueError(
                "stylizer strengths must be in [0, 1] (0: the photo's own style, 1: the "
                f"Monet's). Received: base_strength={config.base_strength}, "
                f"base_strengths={config.base_strengths!r}"
            )
    if config.base_lr_multiplier <= 0:
        raise ValueError(
            "`base_lr_multiplier` must be > 0 (freeze the transformer with base_trainable = "
            f"false instead). Received: base_lr_multiplier={config.base_lr_multiplier}"
        )


def _working_size(config: CycleGANConfig) -> int:
    return config.residual_scale or config.image_size


def _resnet_network(x, config: CycleGANConfig, name: str):
    """c7s1-ngf, d(2·ngf), d(4·ngf), R(4·ngf)×N, u(2·ngf), u(ngf), c7s1-3 (Zhu et al.)."""
    ngf = config.gen_filters
    residual = config.output == "residual"
    # Like Zhu et al.'s code with instance norm, every conv keeps its bias; that is what
    # makes (Keras parameters − affine norm parameters) equal the paper's count.
    x = ReflectionPadding2D(3, name=f"{name}_stem_pad")(x)
    x = keras.layers.Conv2D(ngf, 7, kernel_initializer=conv_init(), name=f"{name}_stem_conv")(x)
    x = instance_norm(f"{name}_stem_norm")(x)
    x = keras.layers.ReLU(name=f"{name}_stem_relu")(x)
    for i, mult in enumerate((2, 4), start=1):
        x = keras.layers.Conv2D(
            ngf * mult,
            3,
            strides=2,
            padding="same",
            kernel_initializer=conv_init(),
            name=f"{name}_down{i}_conv",
        )(x)
        x = instance_norm(f"{name}_down{i}_norm")(x)
        x = keras.layers.ReLU(name=f"{name}_down{i}_relu")(x)
    for i in range(1, config.residual_blocks + 1):
        x = _residual_block(x, ngf * 4, name=f"{name}_res{i}")
    for i, mult in enumerate((2, 1), start=1):
        x = _upsample_conv(
            x, ngf * mult, 3, config.upsample, name=f"{name}_up{i}", kernel_initializer=conv_init()
        )
        x = instance_norm(f"{name}_up{i}_norm")(x)
        x = keras.layers.ReLU(name=f"{name}_up{i}_relu")(x)
    x = ReflectionPadding2D(3, name=f"{name}_head_pad")(x)
    x = keras.layers.Conv2D(3, 7, name=f"{name}_head_conv", **_last_conv_kwargs(residual))(x)
    return _output_head(x, residual, name)


def _unet_filters(size: int, ngf: int) -> list[int]:
    """Down-block widths: ngf·(1, 2, 4, 8, 8, …), one block per halving down to 1×1."""
    levels = size.bit_length() - 1
    return [ngf * min(2**i, 8) for i in range(levels)]


def _unet_network(x, config: CycleGANConfig, name: str):
    """The starter notebook's U-Net: 4×4 strided convs down to 1×1, back up with skips."""
    residual = config.output == "residual"
    down_filters = _unet_filters(_working_size(config), config.gen_filters)
    skips = []
    for i, filters in enumerate(down_filters, start=1):
        x = keras.layers.Conv2D(
            filters,
            4,
            strides=2,
            padding="same",
            use_bias=False,
            kernel_initializer=conv_init(),
            name=f"{name}_down{i}_conv",
        )(x)
        # No norm on the first block (pix2pix) nor on the innermost, 1×1 one: instance norm
        # of a single pixel is the constant beta, which would cut the bottleneck off (the
        # starter notebook has that bug; Isola et al.'s code leaves the innermost unnormed).
        if 1 < i < len(down_filters):
            x = instance_norm(f"{name}_down{i}_norm")(x)
        x = keras.layers.LeakyReLU(0.2, name=f"{name}_down{i}_lrelu")(x)
        skips.append(x)
    # The up path mirrors the down path without its innermost block, joining the skips.
    up_filters = down_filters[-2::-1]
    for i, (filters, skip) in enumerate(zip(up_filters, skips[-2::-1]), start=1):
        x = _upsample_conv(
            x,
            filters,
            4,
            config.upsample,
            name=f"{name}_up{i}",
            use_bias=False,
            kernel_initializer=conv_init(),
        )
        x = instance_norm(f"{name}_up{i}_norm")(x)
        if i <= 3:
            x = keras.layers.Dropout(0.5, name=f"{name}_up{i}_dropout")(x)
        x = keras.layers.ReLU(name=f"{name}_up{i}_relu")(x)
        x = keras.layers.Concatenate(name=f"{name}_up{i}_concat")([x, skip])
    x = _upsample_conv(x, 3, 4, config.upsample, name=f"{name}_head", **_last_conv_kwargs(residual))
    return _output_head(x, residual, name)


# ---- builders --------------------------------------------------------------------------


def _build(config: CycleGANConfig, name: str, network: Callable) -> keras.Model:
    """Wraps a network with the input, the optional down-scaling and the output mode."""
    image = keras.Input((config.image_size, config.image_size, 3), name=f"{name}_input")
    if config.output != "residual":
        return keras.Model(image, network(image, config, name), name=name)
    if not config.residual_scale:
        residual = network(image, config, name)
    else:
        # Average pooling is the exact area down-scaling for an integer factor, and unlike
        # an antialiased resize it compiles with XLA.
        factor = config.image_size // config.residual_scale
        small = keras.layers.AveragePooling2D(factor, name=f"{name}_downscale")(image)
        residual = network(small, config, name)
        residual = keras.layers.UpSampling2D(
            factor, interpolation="bilinear", dtype="float32", name=f"{name}_upscale"
        )(residual)
    base = image
    stylized = config.base == "stylizer" and name != "gen_F"
    if config.color_transfer == "lab" and not (stylized and config.base_order == "stylize_first"):
        base = LabColorTransfer(dtype="float32", name=f"{name}_color_transfer")(base)
    if stylized:
        base = _stylize(base, image, name, StyleMix(
            strength=config.base_strength or base_strengths(config)[0], choice=config.base_style,
            seed=config.seed, dtype="float32", name=f"{name}_style_mix",
        ), trainable=config.base_trainable)
        if config.color_transfer == "lab" and config.base_order == "stylize_first":
            base = LabColorTransfer(dtype="float32", name=f"{name}_color_transfer")(base)
    if config.tone_curve:
        base = ToneCurve(config.tone_curve, dtype="float32", name=f"{name}_tone_curve")(base)
    x = ResidualOutput(dtype="float32", name=f"{name}_residual_output")([base, residual])
    return keras.Model(image, x, name=name)


# ---- the stylizer base -------------------------------------------------------------------


def _stylize(image, photo, name: str, mix: StyleMix, trainable: bool = False):
    """[-1, 1] images → their painting by the arbitrary style network (Ghiasi et al. 2017,
    `painter.models.stylizer`), in [-1, 1], with the style input of `mix`: each image's own
    style vector moved toward a Monet's. `photo` is the generator's input, from whose
    exact pixels `mix` picks a Monet per photo outside training (`image` may be a colour
    transfer of it). The predictor is frozen; the transformer trains when `trainable`.
    Built without weights: `set_stylizer_weights` loads the pretrained ones (a trained
    run's checkpoint holds its own)."""
    from painter.models.stylizer import style_input, style_predictor, style_transformer

    predictor = style_predictor(weights=None, name=f"{name}_style_predictor")
    predictor.trainable = False
    transformer = style_transformer(weights=None, name=f"{name}_style_transformer")
    transformer.trainable = trainable
    unit = keras.layers.Rescaling(0.5, offset=0.5, dtype="float32", name=f"{name}_to_unit")(image)
    photo_styles = predictor(style_input(unit))
    painted = transformer([unit, mix([photo_styles, photo])])
    return keras.layers.Rescaling(2.0, offset=-1.0, dtype="float32", name=f"{name}_from_unit")(painted)


def stylizer_parts(network: keras.Model) -> tuple[keras.Model, keras.Model, StyleMix]:
    """(predictor, transformer, style mix) of a network built with the stylizer base."""
    try:
        return (network.get_layer(f"{network.name}_style_predictor"),
                network.get_layer(f"{network.name}_style_transformer"),
                network.get_layer(f"{network.name}_style_mix"))
    except ValueError:
        raise ValueError(f"{network.name} has no stylizer base") from None


def base_lr_multipliers(network: keras.Model, config: CycleGANConfig) -> dict[str, float]:
    """{variable path: `base_lr_multiplier`} of the stylizer base's trainable variables
    (strength, offset, and the transformer's when `base_trainable`); empty when the
    network has no stylizer base or the multiplier is 1."""
    if config.base != "stylizer" or config.base_lr_multiplier == 1.0:
        return {}
    try:
        parts = stylizer_parts(network)
    except ValueError:
        return {}
    return {v.path: config.base_lr_multiplier for part in parts for v in part.trainable_variables}


def set_stylizer_weights(network: keras.Model, weights="stylizer") -> None:
    """Loads the pretrained predictor and transformer weights (`painter weights fetch
    stylizer`, or a `.weights.h5` path) into a network with the stylizer base."""
    from painter.models.stylizer import style_predictor, style_transformer

    predictor, transformer, _ = stylizer_parts(network)
    predictor.set_weights(style_predictor(weights=weights).get_weights())
    transformer.set_weights(style_transformer(weights=weights).get_weights())


def style_vectors(network: keras.Model, images, batch: int = 32):
    """The style vectors (n, 100) of uint8 images (n, h, w, 3) by the predictor of a
    network with the stylizer base."""
    import numpy as np

    from painter.models.stylizer import style_input

    predictor = stylizer_parts(network)[0]
    images = np.asarray(images)
    chunks = [
        np.asarray(predictor(style_input(images[start : start + batch].astype("float32") / 255.0)))
        for start in range(0, len(images), batch)
    ]
    return np.concatenate(chunks).astype("float32")


def start_stylizer_base(network: keras.Model, config: CycleGANConfig, monets, *,
                        score=None, weights="stylizer", log=print) -> float:
    """Sets the start of a fresh network with the stylizer base: the pretrained weights,
    the Monets' style vectors as its style bank, and the strength at which `score` (lower
    is better; e.g. the tracked MiFID of the untrained generator) is lowest among
    `base_strengths(config)`. Call it after the Lab target is set, which the score sees.

    Args:
        network: gen_G built with `base = "stylizer"`.
        config: its config.
        monets: uint8 Monet images (n, h, w, 3), or an iterable of (h, w, 3) ones.
        score: network → float. Default None: no measurement; the first strength is used
            (with one strength, nothing is measured either).
        weights: the pretrained weights (`set_stylizer_weights`). Default "stylizer".
        log: where messages go. Default print.

    Returns:
        The strength set.
    """
    import numpy as np

    set_stylizer_weights(network, weights)
    monets = np.stack(list(monets)) if not isinstance(monets, np.ndarray) else monets
    mix = stylizer_parts(network)[2]
    mix.set_styles(style_vectors(network, monets))
    strengths = base_strengths(config)
    if len(strengths) == 1 or score is None:
        chosen = strengths[0]
        why = "as configured" if len(strengths) == 1 else "not measured (no tracking)"
        log(f"stylizer base: {len(monets)} Monet styles ({config.base_style}), strength {chosen:g}, {why}")
    else:
        scores = {}
        for strength in strengths:
            mix.set_strength(strength)
            scores[strength] = float(score(network))
            log(f"stylizer base: strength {strength:g} scores {scores[strength]:.2f}")
        chosen = min(scores, key=scores.get)
        log(f"stylizer base: {len(monets)} Monet styles ({config.base_style}), strength "
            f"{chosen:g}, the lowest of " + ", ".join(f"{k:g}: {v:.2f}" for k, v in scores.items()))
    mix.set_strength(chosen)
    return chosen


def stylizer_painter(*, strength: float = 0.5, choice: str = "random", seed: int = 0,
                     color_transfer: str = "none", order: str = "stylize_first",
                     image_size: int = 256, name: str = "stylizer") -> keras.Model:
    """The stylize baseline as a model: [-1, 1] photos → their paintings, with the style
    input of `StyleMix` (strength, "random" or "mean" Monet style, seed) and optionally
    the Lab colour transfer after (or before) the stylizer. It is exactly the base of an
    untrained generator with `base = "stylizer"` and the same settings.

    Built without weights: call `set_stylizer_weights`, fill the style bank with
    `stylizer_parts(model)[2].set_styles(style_vectors(model, monets))`, and set the Lab
    target (`get_layer(f"{name}_color_transfer").set_target`).
    """
    image = keras.Input((image_size, image_size, 3), name=f"{name}_input")
    x = image
    if color_transfer == "lab" and order == "color_first":
        x = LabColorTransfer(dtype="float32", name=f"{name}_color_transfer")(x)
    x = _stylize(x, image, name, StyleMix(strength=strength, choice=choice, seed=seed, dtype="float32",
                                   name=f"{name}_style_mix"))
    if color_transfer == "lab" and order == "stylize_first":
        x = LabColorTransfer(dtype="float32", name=f"{name}_color_transfer")(x)
    return keras.Model(image, x, name=name)


def resnet_generator(config: CycleGANConfig, name: str = "gen_G") -> keras.Model:
    """The ResNet generator of Zhu et al. 2017 (CycleGAN), `resnet_9blocks` at defaults.

    c7s1-64, d128, d256, 9 residual blocks, u128, u64, c7s1-3 with ngf = 64: reflection
    padding, instance norm (affine, see `instance_norm`), ReLU, conv biases kept, weights
    drawn from N(0, 0.02). Use 9 blocks at 256 px and 6 at 128 px.

    Args:
        config: uses `image_size` (default 256), `gen_filters` (ngf, default 64),
            `residual_blocks` (default 9), `upsample`, `output` and `residual_scale`
            (module docstring). The working size (`residual_scale` when set, else
            `image_size`) must be a multiple of 4 and >= 8.
        name: model name and prefix of every layer name. Defaults to "gen_G".

    Returns:
        A `keras.Model` from (image_size, image_size, 3) in [-1, 1] to the same.
    """
    check_generator_config(config)
    if config.residual_blocks < 0:
        raise ValueError(
            "`residual_blocks` must be >= 0. "
            f"Received: residual_blocks={config.residual_blocks}"
        )
    size = _working_size(config)
    # Two stride-2 convs and back, and the 7×7 reflection needs at least 4 px.
    if size < 8 or size % 4:
        raise ValueError(
            "The ResNet generator's working size (image_size, or residual_scale when set) "
            f"must be a multiple of 4 and >= 8. Received: image_size={config.image_size}, "
            f"residual_scale={config.residual_scale}"
        )
    return _build(config, name, _resnet_network)


def unet_generator(config: CycleGANConfig, name: str = "gen_G") -> keras.Model:
    """The U-Net generator of the competition's starter notebook (after pix2pix).

    At 256 px: 8 down blocks (4×4 stride-2 conv, instance norm except on the first and the
    innermost 1×1 block, LeakyReLU 0.2) of ngf·(1, 2, 4, 8, 8, 8, 8, 8) filters down to
    1×1, then 7 up blocks
    (stride-2 up-sampling, instance norm, dropout 0.5 in the first 3, ReLU) of
    ngf·(8, 8, 8, 8, 4, 2, 1) filters, each concatenated with the down block of its size,
    then a stride-2 up-sampling to 3 channels. Smaller sizes drop innermost levels so the
    bottleneck still reaches 1×1: 7 down / 6 up at 128 px, 6 / 5 at 64 px; the first 3 up
    blocks keep the dropout. Convs have no bias, as the notebook. 54,413,955 parameters at
    defaults: the notebook's 54,414,979 less the 1,024 of the innermost norm it should not
    have (instance norm of a 1×1 map is a constant, which cuts off the bottleneck).

    Args:
        config: uses `image_size` (default 256; a power of two >= 8, as is
            `residual_scale` when set), `gen_filters` (ngf, default 64), `upsample`,
            `output` and `residual_scale` (module docstring). `residual_blocks` is ResNet
            only.
        name: model name and prefix of every layer name. Defaults to "gen_G".

    Returns:
        A `keras.Model` from (image_size, image_size, 3) in [-1, 1] to the same.
    """
    check_generator_config(config)
    size = _working_size(config)
    if size < 8 or size & (size - 1):
        raise ValueError(
            "The U-Net generator's working size (image_size, or residual_scale when set) "
            f"must be a power of two >= 8. Received: image_size={config.image_size}, "
            f"residual_scale={config.residual_scale}"
        )
    return _build(config, name, _unet_network)


def encoder_layer_names(generator: keras.Model) -> list[str]:
    """The layers of a ResNet generator whose outputs CUT's PatchNCE loss compares: the
    reflection-padded input, the two down-sampling convs, the first residual block and
    the middle one (block (N + 1) // 2 of N).

    These are Park et al.'s layers 0, 4, 8, 12 and 16 of their ResNet-9 generator: its
    padded input, two down-sampling convs (before norm), resnet blocks 1 and 5. With
    fewer blocks the middle block keeps the last feature halfway into the bottleneck;
    a layer named twice (one block) is taken once. With `residual_scale` they are the
    network's features at its working size.
    """
    name = generator.name
    blocks = 0
    while any(layer.name == f"{name}_res{blocks + 1}_add" for layer in generator.layers):
        blocks += 1
    names = [f"{name}_stem_pad", f"{name}_down1_conv", f"{name}_down2_conv"]
    for block in (1, (blocks + 1) // 2):
        if block and f"{name}_res{block}_add" not in names:
            names.append(f"{name}_res{block}_add")
    missing = [n for n in names if n not in {layer.name for layer in generator.layers}]
    if missing:
        raise ValueError(
            "Encoder features need the ResNet generator (painter.models.generators."
            f"resnet_generator). Received: {generator.name!r}, which has no layer {missing[0]!r}"
        )
    return names


def encoder_features(generator: keras.Model) -> keras.Model:
    """A model from the generator's input to its encoder features
    (`encoder_layer_names`), sharing the generator's layers and weights: its gradients
    are the generator's. The features are in the compute dtype, (batch, h, w, c) each."""
    outputs = [generator.get_layer(n).output for n in encoder_layer_names(generator)]
    return keras.Model(generator.input, outputs, name=f"{generator.name}_encoder")


GENERATORS: dict[str, Callable[..., keras.Model]] = {
    "resnet": resnet_generator,
    "unet": unet_generator,
}


def build_generator(config: CycleGANConfig, name: str = "gen_G") -> keras.Model:
    """The generator named by `config.generator` ("resnet" or "unet"), called `name`."""
    if config.generator not in GENERATORS:
        raise ValueError(
            f"Unknown generator; known: {', '.join(GENERATORS)}. "
            f"Received: generator={config.generator!r}"
        )
    return GENERATORS[config.generator](config, name=name)
