"""TensorBoard event files: with TensorFlow's core `tf.summary.write` when TensorFlow is
installed, else with `tensorboardX`'s event-file writer, else none (one log line says so).

`tf.summary.scalar` and `tf.summary.image` live in the `tensorboard` package, which is not
a runtime dependency of painter (nor always installed with TensorFlow). The event files
here carry the same summaries those functions write: a tensor with the "scalars" or
"images" plugin metadata, so TensorBoard, wherever it is installed, shows them as usual.
Without TensorFlow (Keras on JAX) the same `Summary` messages are built from
tensorboardX's copies of TensorFlow's protos and framed by its writer (length, masked
CRC-32C): a TensorFlow reader reads them back the same.
"""

from __future__ import annotations

import io
import os
import sys
from typing import Callable

import numpy as np

from painter.backend import has_tensorflow, installed

NOT_WRITTEN = ("TensorBoard event files are not written: neither TensorFlow nor tensorboardX "
               "is installed (pip install tensorboardX)")


def _log_to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


def _numbers(values: dict):
    """(key, float) of the numbers in `values` (bools and non-numbers are skipped)."""
    for key, value in values.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            yield key, float(value)


def _png_batch(images, max_images: int) -> tuple[int, int, list[bytes]]:
    """(width, height, PNGs) of the first `max_images` images (float in [-1, 1] or uint8)."""
    from painter.viz import to_uint8

    batch = to_uint8(np.asarray(images)[:max_images])
    return batch.shape[2], batch.shape[1], [_encode_png(image) for image in batch]


def _encode_png(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


class EventWriter:
    """Scalars and images of a run, one event file per writer.

    Args:
        logdir: the folder of the event files (created).
        log: where the one line goes when no event files can be written. Default stderr.
    """

    def __init__(self, logdir: str | os.PathLike, log: Callable[[str], None] = _log_to_stderr):
        if has_tensorflow():
            self._writer = _TensorFlowEvents(logdir)
        elif installed("tensorboardX"):
            self._writer = _TensorBoardXEvents(logdir)
        else:
            log(NOT_WRITTEN)
            self._writer = None

    @property
    def writes(self) -> bool:
        """Whether event files are written (False without TensorFlow and tensorboardX)."""
        return self._writer is not None

    def scalars(self, values: dict, step: int) -> None:
        """One scalar per key at `step`; non-numbers are skipped."""
        if self._writer is not None:
            self._writer.scalars(dict(_numbers(values)), step)

    def images(self, tag: str, images, step: int, max_images: int = 16) -> None:
        """PNG-encoded images (float in [-1, 1] or uint8), as `tf.summary.image` stores them:
        one string tensor [width, height, png, …]."""
        if self._writer is not None:
            self._writer.images(tag, *_png_batch(images, max_images), step)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


class _TensorFlowEvents:
    def __init__(self, logdir):
        import tensorflow as tf
        from tensorflow.core.framework import summary_pb2

        self._tf = tf
        plugin = summary_pb2.SummaryMetadata.PluginData
        metadata = summary_pb2.SummaryMetadata
        self._scalar_metadata = metadata(plugin_data=plugin(plugin_name="scalars"))
        self._image_metadata = metadata(plugin_data=plugin(plugin_name="images"))
        self._writer = tf.summary.create_file_writer(str(logdir))

    def scalars(self, values: dict[str, float], step: int) -> None:
        tf = self._tf
        with self._writer.as_default(step=step):
            for key, value in values.items():
                tf.summary.write(key, tf.constant(value, tf.float32), metadata=self._scalar_metadata)

    def images(self, tag: str, width: int, height: int, pngs: list[bytes], step: int) -> None:
        tf = self._tf
        tensor = tf.constant([str(width).encode(), str(height).encode(), *pngs])
        with self._writer.as_default(step=step):
            tf.summary.write(tag, tensor, metadata=self._image_metadata)

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


class _TensorBoardXEvents:
    def __init__(self, logdir):
        from tensorboardX import FileWriter
        from tensorboardX.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2

        self._summary_pb2, self._tensor_pb2 = summary_pb2, tensor_pb2
        self._shape_pb2, self._types_pb2 = tensor_shape_pb2, types_pb2
        plugin = summary_pb2.SummaryMetadata.PluginData
        metadata = summary_pb2.SummaryMetadata
        self._scalar_metadata = metadata(plugin_data=plugin(plugin_name="scalars"))
        self._image_metadata = metadata(plugin_data=plugin(plugin_name="images"))
        os.makedirs(logdir, exist_ok=True)
        self._writer = FileWriter(str(logdir), filename_suffix=".v2")

    def _tensor(self, dtype, dims, **values):
        shape = self._shape_pb2.TensorShapeProto(
            dim=[self._shape_pb2.TensorShapeProto.Dim(size=size) for size in dims]
        )
        return self._tensor_pb2.TensorProto(dtype=dtype, tensor_shape=shape, **values)

    def _write(self, tag: str, tensor, metadata, step: int) -> None:
        value = self._summary_pb2.Summary.Value(tag=tag, tensor=tensor, metadata=metadata)
        self._writer.add_summary(self._summary_pb2.Summary(value=[value]), global_step=step)

    def scalars(self, values: dict[str, float], step: int) -> None:
        for key, value in values.items():
            tensor = self._tensor(self._types_pb2.DT_FLOAT, [], float_val=[value])
            self._write(key, tensor, self._scalar_metadata, step)

    def images(self, tag: str, width: int, height: int, pngs: list[bytes], step: int) -> None:
        strings = [str(width).encode(), str(height).encode(), *pngs]
        tensor = self._tensor(self._types_pb2.DT_STRING, [len(strings)], string_val=strings)
        self._write(tag, tensor, self._image_metadata, step)

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
