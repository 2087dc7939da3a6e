"""The data layer: Kaggle TFRecords, JPEG/PNG folders and zips → checked encoded images
and `tf.data` pipelines; the TFRecord writer; the embedded sample (`SAMPLE_ROOT`, Kaggle
layout: `monet_jpg/`, `photo_jpg/`).

Other parts read data through `iter_encoded_images(source)` (encoded bytes, checked) and
`decode_rgb(data, origin, image_size)`; training through `unpaired_dataset` /
`image_dataset`, or without TensorFlow (Keras on JAX) through the numpy batches of
`painter.data.arrays` (`unpaired_arrays`, `image_arrays`, `paired_arrays`), which give the
same data. Everything but the `tf.data` pipelines runs without TensorFlow.
"""

from painter.data.images import BadEntry, EncodedImage, ImageHeader, decode_rgb, encode_jpeg
from painter.data.info import data_info, format_info
from painter.data.pipeline import (
    count_images,
    image_dataset,
    monet_dataset,
    photo_dataset,
    random_jitter,
    unpaired_dataset,
    unpaired_steps,
)
from painter.data.reader import iter_checked_images, iter_encoded_images
from painter.data.sources import DOMAINS, SAMPLE_ROOT, Source, kaggle_domains, resolve_source
from painter.data.writer import WrittenTFRecords, write_tfrecords

__all__ = [
    "BadEntry", "DOMAINS", "EncodedImage", "ImageHeader", "SAMPLE_ROOT", "Source",
    "WrittenTFRecords", "count_images", "data_info", "decode_rgb", "encode_jpeg",
    "format_info", "image_dataset", "iter_checked_images", "iter_encoded_images",
    "kaggle_domains", "monet_dataset", "photo_dataset", "random_jitter", "resolve_source",
    "unpaired_dataset", "unpaired_steps", "write_tfrecords",
]
