"""Small layers shared by the generators and discriminators.

Every custom layer here is registered serializable under the `painter` package and has a
`get_config`, so a model saved with `model.save("x.keras")` loads back without
`custom_objects`.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="painter")
class ReflectionPadding2D(keras.layers.Layer):
    """Pads height and width by mirroring the image at its edges (channels last).

    Zhu et al. pad with reflection before the 7×7 and residual-block convs so that the
    borders of a translated image carry no zero-padding artefacts.

    Args:
        padding: int or (pad_height, pad_width) added on both sides. Defaults to 1. Each
            must be smaller than the matching input size (a reflection cannot reach
            further than the image).
    """

    def __init__(self, padding: int | tuple[int, int] = 1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(padding, int):
            padding = (padding, padding)
        padding = tuple(int(p) for p in padding)
        if len(padding) != 2 or min(padding) < 0:
            raise ValueError(
                "`padding` must be a non-negative int or a pair of them. "
                f"Received: padding={padding}"
            )
        self.padding = padding

    def call(self, inputs):
        pad_h, pad_w = self.padding
        return ops.pad(inputs, [[0, 0], [pad_h, pad_h], [pad_w, pad_w], [0, 0]], mode="reflect")

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        pad_h, pad_w = self.padding
        height = None if height is None else height + 2 * pad_h
        width = None if width is None else width + 2 * pad_w
        return (batch, height, width, channels)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


@keras.saving.register_keras_serializable(package="painter")
class ResidualOutput(keras.layers.Layer):
    """`clip(image + residual, -1, 1)`: the output of a generator that edits its input.

    Called on `[image, residual]` of the same shape. With the residual branch's last conv
    initialised to zero, an untrained generator returns its input exactly.

    Args:
        clip_min: lower bound of the output. Defaults to -1.0.
        clip_max: upper bound of the output. Defaults to 1.0.
    """

    def __init__(self, clip_min: float = -1.0, clip_max: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if not clip_min < clip_max:
            raise ValueError(
                "`clip_min` must be smaller than `clip_max`. "
                f"Received: clip_min={clip_min}, clip_max={clip_max}"
            )
        self.clip_min = float(clip_min)
        self.clip_max = float(clip_max)

    def call(self, inputs):
        image, residual = inputs
        return ops.clip(image + residual, self.clip_min, self.clip_max)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "clip_min": self.clip_min, "clip_max": self.clip_max}


def instance_norm(name: str) -> keras.layers.GroupNormalization:
    """Instance normalisation as one group per channel.

    Unlike Zhu et al.'s `InstanceNorm2d` (no affine parameters), this one learns a scale
    and an offset per channel: 2 extra parameters per channel, which is the whole
    difference in the parameter counts of the shape tests.

    Args:
        name: the layer name.
    """
    return keras.layers.GroupNormalization(groups=-1, epsilon=1e-5, name=name)


def conv_init() -> keras.initializers.Initializer:
    """N(0, 0.02), the weight initialisation of Zhu et al. and the DCGAN family."""
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.02)
