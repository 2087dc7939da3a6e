"""Small layers shared by the generators and discriminators.

Every custom layer here is registered serializable under the `painter` package and has a
`get_config`, so a model saved with `model.save("x.keras")` loads back without
`custom_objects`.
"""

from __future__ import annotations

import keras
from keras import ops

from painter.colorspace import CIE_EPSILON, CIE_KAPPA, RGB_TO_XYZ, WHITE_D65, XYZ_TO_RGB


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


@keras.saving.register_keras_serializable(package="painter")
class SpectralNormalization(keras.layers.SpectralNormalization):
    """Keras' `SpectralNormalization`, with the same gradient on every backend.

    In training, Keras' layer overwrites its kernel W with W / σ(W) and then reads it, so
    on TensorFlow the gradient (and the optimizer's update) is that of the normalised
    kernel as a variable of its own: nothing flows back through the normalisation. On
    JAX the same code runs inside a stateless trace, where the read after the assignment
    would differentiate through the normalisation instead. Here, on JAX, the assigned
    value is W + stop_gradient(W / σ(W) − W): the same number, with the gradient of a
    leaf, so both backends train alike (tests/test_jax_step.py).
    """

    def call(self, inputs, training=False):
        if training and keras.backend.backend() != "tensorflow":
            new_vector_u, new_kernel = ops.cond(
                ops.all(ops.equal(self.kernel.value, 0)),
                lambda: (self.vector_u.value, self.kernel.value),
                self.normalized_weights,
            )
            self.vector_u.assign(new_vector_u)
            kernel = self.kernel.value
            self.kernel.assign(kernel + ops.stop_gradient(new_kernel - kernel))
            return ops.cast(self.layer(inputs), inputs.dtype)
        return super().call(inputs, training=training)


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


@keras.saving.register_keras_serializable(package="painter")
class ToneCurve(keras.layers.Layer):
    """A learned curve per channel: a continuous piecewise-linear map of [-1, 1] with
    `segments` equal segments, the photographer's "curves" tool.

    The curve is `start` (its value at -1) plus the sum of each segment's slope times the
    part of that segment below the input, so it is exact, cheap and differentiable in
    every parameter. It starts as the identity; `set_curve` sets it to any curve given by
    its values at the segment ends (a histogram match, `painter.data.color`). Inputs below
    -1 map to `start`, above 1 continue the last segment.

    Args:
        segments: equal segments over [-1, 1]. Defaults to 16.
    """

    def __init__(self, segments: int = 16, **kwargs):
        super().__init__(**kwargs)
        if segments < 1:
            raise ValueError(f"`segments` must be >= 1. Received: segments={segments}")
        self.segments = int(segments)

    def build(self, input_shape):
        channels = input_shape[-1]
        self.start = self.add_weight(
            shape=(channels,), initializer=keras.initializers.Constant(-1.0), name="start"
        )
        self.slopes = self.add_weight(
            shape=(self.segments, channels), initializer="ones", name="slopes"
        )

    @property
    def width(self) -> float:
        return 2.0 / self.segments

    def knots(self):
        """The segment ends, -1 … 1 (segments + 1 values)."""
        return [-1.0 + i * self.width for i in range(self.segments + 1)]

    def call(self, inputs):
        left_ends = ops.convert_to_tensor(self.knots()[:-1], dtype=inputs.dtype)
        below = ops.expand_dims(inputs, -1) - left_ends  # (…, channels, segments)
        covered = ops.concatenate(
            [ops.clip(below[..., :-1], 0.0, self.width), ops.maximum(below[..., -1:], 0.0)],
            axis=-1,
        )
        return self.start + ops.sum(covered * ops.transpose(self.slopes), axis=-1)

    def set_curve(self, values) -> None:
        """Sets the curve from its values at `knots()`: shape (segments + 1, channels)."""
        import numpy as np

        values = np.asarray(values, dtype="float32")
        expected = (self.segments + 1, self.start.shape[0])
        if values.shape != expected:
            raise ValueError(
                f"`values` must have shape {expected}. Received: shape={values.shape}"
            )
        self.start.assign(values[0])
        self.slopes.assign(np.diff(values, axis=0) / self.width)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "segments": self.segments}


@keras.saving.register_keras_serializable(package="painter")
class LabColorTransfer(keras.layers.Layer):
    """Moves each image's per-channel mean and standard deviation in CIE L*a*b* onto a
    target's: Reinhard et al. 2001's colour transfer, the `color-match` baseline, as a
    layer on [-1, 1] sRGB images.

    Per image, `out_c = (lab_c − mean_c) / std_c · target_std_c + target_mean_c`, then back
    to sRGB with out-of-gamut colours clipped (`painter.data.color` is the uint8 numpy
    version; both use sRGB companding and the D65 white). The target is two weights of 3
    values each, trainable, set from data by `set_target` (a CycleGAN starts its gen_G on
    the Monets' statistics, gen_F on the photos'). A flat channel is only shifted.

    Args:
        epsilon: the standard deviation below which a channel counts as flat. Defaults
            to 1e-3 (Lab units).
    """

    def __init__(self, epsilon: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        if input_shape[-1] != 3:
            raise ValueError(f"LabColorTransfer needs 3 channels. Received: shape={input_shape}")
        # The Lab statistics of the competition's 300 Monets, so an unset layer is already sane.
        self.target_mean = self.add_weight(
            shape=(3,), initializer=keras.initializers.Constant([55.1, -0.4, 6.2]), name="target_mean"
        )
        self.target_std = self.add_weight(
            shape=(3,), initializer=keras.initializers.Constant([21.8, 9.5, 18.8]), name="target_std"
        )

    def set_target(self, mean, std) -> None:
        """Sets the target Lab mean and standard deviation, each 3 values."""
        import numpy as np

        for name, values in (("mean", mean), ("std", std)):
            if np.shape(values) != (3,):
                raise ValueError(f"`{name}` must have 3 values. Received: shape={np.shape(values)}")
        self.target_mean.assign(np.asarray(mean, "float32"))
        self.target_std.assign(np.asarray(std, "float32"))

    def call(self, inputs):
        dtype = inputs.dtype
        srgb = ops.clip((inputs + 1.0) * 0.5, 0.0, 1.0)
        # Each ops.where takes the gradient of both branches, so every fractional power's
        # base is kept away from 0, where its gradient is infinite (and infinity × 0 is NaN).
        linear = ops.where(srgb <= 0.04045, srgb / 12.92, ops.power((srgb + 0.055) / 1.055, 2.4))
        to_xyz = ops.convert_to_tensor((RGB_TO_XYZ.T / WHITE_D65).astype("float32"), dtype)
        xyz = ops.matmul(linear, to_xyz)
        f = ops.where(
            xyz > CIE_EPSILON,
            ops.power(ops.maximum(xyz, CIE_EPSILON), 1.0 / 3.0),
            (CIE_KAPPA * xyz + 16.0) / 116.0,
        )
        fx, fy, fz = f[..., 0], f[..., 1], f[..., 2]
        lab = ops.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)

        mean = ops.mean(lab, axis=(1, 2), keepdims=True)
        std = ops.sqrt(ops.mean(ops.square(lab - mean), axis=(1, 2), keepdims=True) + 1e-12)
        flat = std < self.epsilon
        scale = ops.where(flat, 1.0, ops.cast(self.target_std, dtype) / ops.maximum(std, self.epsilon))
        lab = (lab - mean) * scale + ops.cast(self.target_mean, dtype)

        fy = (lab[..., 0] + 16.0) / 116.0
        f = ops.stack([fy + lab[..., 1] / 500.0, fy, fy - lab[..., 2] / 200.0], axis=-1)
        cube_root_epsilon = CIE_EPSILON ** (1.0 / 3.0)
        xyz = ops.where(f > cube_root_epsilon, f * f * f, (116.0 * f - 16.0) / CIE_KAPPA)
        to_rgb = ops.convert_to_tensor((XYZ_TO_RGB.T * WHITE_D65[:, None]).astype("float32"), dtype)
        linear = ops.clip(ops.matmul(xyz, to_rgb), 0.0, 1.0)
        srgb = ops.where(
            linear <= 0.0031308,
            12.92 * linear,
            1.055 * ops.power(ops.maximum(linear, 0.0031308), 1.0 / 2.4) - 0.055,
        )
        return srgb * 2.0 - 1.0

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="painter")
class StyleMix(keras.layers.Layer):
    """The style input of the arbitrary style transformer: each photo's own style vector
    moved toward a Monet's, `s = s_photo + strength · (s_monet − s_photo) + offset`.

    Called on `[photo_styles (N, D), images (N, H, W, 3) in [-1, 1]]`. The Monet style
    vectors live in a bank (`set_styles`, non-trainable; the first `count` rows are used).
    `strength` (a scalar) and `offset` (D values, zero at first) are trainable. With
    `choice = "mean"` every photo gets the bank's mean; with "random" each gets one of the
    bank's vectors:

    - in training, drawn per example from a seeded stream (`keras.random`);
    - otherwise chosen by the photo's content: the sum of its pixel values (as uint8)
      plus `seed`, modulo `count`. The same photo always gets the same Monet, which scores
      that compare epochs or runs need, and the pixel sums of different photos spread
      evenly over the bank.

    Args:
        bank_size: rows of the bank, the most style vectors it holds. Defaults to 300
            (the competition's Monets).
        strength: the initial strength: 0 keeps the photo's own style, 1 takes the
            Monet's. Defaults to 0.5.
        choice: "random" or "mean". Defaults to "random".
        seed: seeds the training draws and offsets the content choice. Defaults to 0.
    """

    CHOICES = ("random", "mean")

    def __init__(self, bank_size: int = 300, strength: float = 0.5, choice: str = "random",
                 seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        if bank_size < 1:
            raise ValueError(f"`bank_size` must be >= 1. Received: bank_size={bank_size}")
        if choice not in self.CHOICES:
            raise ValueError(f"`choice` must be one of {self.CHOICES}. Received: choice={choice!r}")
        self.bank_size = int(bank_size)
        self.initial_strength = float(strength)
        self.choice = choice
        self.seed = int(seed)

    def build(self, input_shape):
        style_shape, _ = input_shape
        dim = style_shape[-1]
        self.styles = self.add_weight(shape=(self.bank_size, dim), initializer="zeros",
                                      trainable=False, name="styles")
        self.count = self.add_weight(shape=(), initializer="ones", trainable=False, name="count")
        self.strength = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(self.initial_strength), name="strength"
        )
        self.offset = self.add_weight(shape=(dim,), initializer="zeros", name="offset")
        from painter.train.step import ReplicaSeedGenerator

        self.seed_generator = ReplicaSeedGenerator(self.seed, name="style_seed")

    def set_styles(self, vectors) -> None:
        """Fills the bank with style vectors (n, D); more than `bank_size` are thinned
        evenly to `bank_size`."""
        import numpy as np

        vectors = np.asarray(vectors, "float32")
        if vectors.ndim != 2 or vectors.shape[1] != self.styles.shape[1] or not len(vectors):
            raise ValueError(
                f"`vectors` must be (n >= 1, {self.styles.shape[1]}). Received: shape={vectors.shape}"
            )
        if len(vectors) > self.bank_size:
            vectors = vectors[np.linspace(0, len(vectors) - 1, self.bank_size).round().astype(int)]
        bank = np.zeros(self.styles.shape, "float32")
        bank[: len(vectors)] = vectors
        self.styles.assign(bank)
        self.count.assign(float(len(vectors)))

    def set_strength(self, strength: float) -> None:
        self.strength.assign(float(strength))

    def monet_styles(self, images, training=False):
        """The Monet style vector each image gets (module docstring), (N, D)."""
        count = ops.cast(self.count, "int32")
        if self.choice == "mean":
            used = ops.cast(ops.arange(self.bank_size) < count, self.styles.dtype)
            mean = ops.sum(self.styles * used[:, None], axis=0) / ops.cast(count, self.styles.dtype)
            return ops.broadcast_to(mean, (ops.shape(images)[0], self.styles.shape[1]))
        if training:
            draws = keras.random.uniform((ops.shape(images)[0],), seed=self.seed_generator)
            index = ops.minimum(ops.cast(draws * ops.cast(count, draws.dtype), "int32"), count - 1)
        else:
            pixels = ops.cast(ops.round((ops.cast(images, "float32") + 1.0) * 127.5), "int32")
            index = (ops.sum(pixels, axis=(1, 2, 3)) + self.seed) % count
        return ops.take(self.styles, index, axis=0)

    def call(self, inputs, training=False):
        photo_styles, images = inputs
        photo_styles = ops.cast(photo_styles, self.compute_dtype)
        monet = ops.cast(self.monet_styles(images, training=training), self.compute_dtype)
        return photo_styles + self.strength * (monet - photo_styles) + self.offset

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "bank_size": self.bank_size,
                "strength": self.initial_strength, "choice": self.choice, "seed": self.seed}
