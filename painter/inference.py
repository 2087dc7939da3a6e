"""Inference: a trained generator as a function from uint8 inputs to uint8 256-px images.

`painter generate` writes what these return into a submission; MiFID tracking scores what
they return during training; `painter paint` and the baselines translate through them.

The maths around the network (scaling, resizing, rounding) is written once in `keras.ops`;
only the compilation depends on Keras' backend: a `tf.function` on TensorFlow, a `jax.jit`
of the model's `stateless_call` on JAX (which reads the variables' current values at each
call, so a generator that keeps training, or gets other weights, is never stale). Either
traces once per model and input shape, so only the first batch of a size pays for it.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from painter.backend import on_jax
from painter.submit.zipwriter import SUBMISSION_SIZE


def _model_input(photos, size: int):
    """uint8 photos → the network's input: [-1, 1] (x / 127.5 − 1, as the data pipeline
    does), resized to `size` when it is not 256 (bilinear, antialiased: what the training
    pipeline does to its photos)."""
    from keras import ops

    x = ops.cast(photos, "float32") / 127.5 - 1.0
    if size != SUBMISSION_SIZE:
        x = ops.image.resize(x, (size, size), "bilinear", antialias=True)
    return x


def _uint8_images(outputs):
    """The network's [-1, 1] outputs → uint8 256×256 (bilinear when it works smaller)."""
    from keras import ops

    y = ops.cast(outputs, "float32")
    if y.shape[1] != SUBMISSION_SIZE:
        y = ops.image.resize(y, (SUBMISSION_SIZE, SUBMISSION_SIZE), "bilinear")
    return ops.cast(ops.clip(ops.round((y + 1.0) * 127.5), 0, 255), "uint8")


def _jax_predictor(model, body) -> Callable[[np.ndarray], np.ndarray]:
    """`body(call, inputs)` jitted on JAX, `call` being `model`'s stateless forward pass
    (training=False) with the variables' values passed in at every call."""
    import jax

    @jax.jit
    def run(trainable, non_trainable, inputs):
        def call(x):
            outputs, _ = model.stateless_call(trainable, non_trainable, x, training=False)
            return outputs

        return body(call, inputs)

    def predict(batch: np.ndarray) -> np.ndarray:
        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]
        return np.asarray(run(trainable, non_trainable, batch))

    return predict


def photo_translator(model, image_size: int | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """uint8 256×256 photos → uint8 256×256 images through an image-to-image `model`.

    The photos are scaled to [-1, 1] (x / 127.5 − 1, as the data pipeline does) and
    resized to the model's working size when it was trained smaller (bilinear,
    antialiased: what the training pipeline does to its photos); the output is resized
    back to 256 (bilinear) and rounded to uint8. The same on TensorFlow and JAX (within
    float rounding: a level of uint8 at most, in rare pixels).
    """
    size = image_size or model.input_shape[1] or SUBMISSION_SIZE

    if on_jax():
        def translate_jax(call, photos):
            return _uint8_images(call(_model_input(photos, size)))

        predict = _jax_predictor(model, translate_jax)
        return lambda batch: predict(np.asarray(batch, np.uint8))

    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)])
    def translate(photos):
        # Static height and width: bilinear UpSampling2D (upsample="resize") needs them.
        x = tf.ensure_shape(_model_input(photos, size), [None, size, size, 3])
        return _uint8_images(model(x, training=False))

    return lambda batch: translate(batch).numpy()


def latent_sampler(model) -> Callable[[np.ndarray], np.ndarray]:
    """latents → uint8 256×256 images through a noise generator (resized when it is smaller)."""
    if on_jax():
        predict = _jax_predictor(model, lambda call, latents: _uint8_images(call(latents)))
        return lambda batch: predict(np.asarray(batch, np.float32))

    import tensorflow as tf

    @tf.function
    def sample(latents):
        return _uint8_images(model(latents, training=False))

    return lambda batch: sample(tf.constant(batch, tf.float32)).numpy()
