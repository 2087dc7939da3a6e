"""Inference: a trained generator as a function from uint8 inputs to uint8 256-px images.

`painter generate` writes what these return into a submission; MiFID tracking scores what
they return during training; `painter paint` and the baselines translate through them.
Both trace a `tf.function` once per model, so only the first batch pays for tracing.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from painter.submit.zipwriter import SUBMISSION_SIZE


def photo_translator(model, image_size: int | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """uint8 256×256 photos → uint8 256×256 images through an image-to-image `model`.

    The photos are scaled to [-1, 1] (x / 127.5 − 1, as the data pipeline does) and
    resized to the model's working size when it was trained smaller (bilinear,
    antialiased: what the training pipeline does to its photos); the output is resized
    back to 256 (bilinear) and rounded to uint8.
    """
    import tensorflow as tf

    size = image_size or model.input_shape[1] or SUBMISSION_SIZE

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)])
    def translate(photos):
        x = tf.cast(photos, tf.float32) / 127.5 - 1.0
        if size != SUBMISSION_SIZE:
            x = tf.image.resize(x, (size, size), "bilinear", antialias=True)
        # Static height and width: bilinear UpSampling2D (upsample="resize") needs them.
        x = tf.ensure_shape(x, [None, size, size, 3])
        y = tf.cast(model(x, training=False), tf.float32)
        if size != SUBMISSION_SIZE:
            y = tf.image.resize(y, (SUBMISSION_SIZE, SUBMISSION_SIZE), "bilinear")
        return tf.cast(tf.clip_by_value(tf.round((y + 1.0) * 127.5), 0, 255), tf.uint8)

    return lambda batch: translate(batch).numpy()


def latent_sampler(model) -> Callable[[np.ndarray], np.ndarray]:
    """latents → uint8 256×256 images through a noise generator (resized when it is smaller)."""
    import tensorflow as tf

    @tf.function
    def sample(latents):
        y = tf.cast(model(latents, training=False), tf.float32)
        if y.shape[1] != SUBMISSION_SIZE:
            y = tf.image.resize(y, (SUBMISSION_SIZE, SUBMISSION_SIZE), "bilinear")
        return tf.cast(tf.clip_by_value(tf.round((y + 1.0) * 127.5), 0, 255), tf.uint8)

    return lambda batch: sample(tf.constant(batch, tf.float32)).numpy()
