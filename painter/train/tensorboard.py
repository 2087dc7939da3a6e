"""TensorBoard event files written with TensorFlow's core `tf.summary.write`.

`tf.summary.scalar` and `tf.summary.image` live in the `tensorboard` package, which is not
a runtime dependency of painter (nor always installed with TensorFlow). The event files
here carry the same plugin metadata those functions write ("scalars", "images"), so
TensorBoard, wherever it is installed, shows them as usual.
"""

from __future__ import annotations

import os

import numpy as np


class EventWriter:
    """Scalars and images of a run, one event file per writer.

    Args:
        logdir: the folder of the event files (created).
    """

    def __init__(self, logdir: str | os.PathLike):
        import tensorflow as tf
        from tensorflow.core.framework import summary_pb2

        self._tf = tf
        plugin = summary_pb2.SummaryMetadata.PluginData
        metadata = summary_pb2.SummaryMetadata
        self._scalar_metadata = metadata(plugin_data=plugin(plugin_name="scalars"))
        self._image_metadata = metadata(plugin_data=plugin(plugin_name="images"))
        self._writer = tf.summary.create_file_writer(str(logdir))

    def scalars(self, values: dict, step: int) -> None:
        """One scalar per key at `step`; non-numbers are skipped."""
        tf = self._tf
        with self._writer.as_default(step=step):
            for key, value in values.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    value = tf.constant(float(value), tf.float32)
                    tf.summary.write(key, value, metadata=self._scalar_metadata)

    def images(self, tag: str, images, step: int, max_images: int = 16) -> None:
        """PNG-encoded images (float in [-1, 1] or uint8), as `tf.summary.image` stores them."""
        tf = self._tf
        from painter.viz import to_uint8

        batch = to_uint8(np.asarray(images)[:max_images])
        height, width = batch.shape[1:3]
        encoded = [tf.io.encode_png(image) for image in batch]
        tensor = tf.stack([tf.constant(str(width)), tf.constant(str(height)), *encoded])
        with self._writer.as_default(step=step):
            tf.summary.write(tag, tensor, metadata=self._image_metadata)

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
