"""Features of a set of images, a batch at a time: the one path that `painter score`
(`compute_mifid`) and MiFID tracking during training both take (`image_features`).

Only one batch of decoded images is held at once; the features themselves (n × 2048
float64, 160 MB for 10,000 images) are what MiFID needs in full.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from painter.errors import DataError
from painter.metrics.inception import FID_FEATURES

DEFAULT_BATCH = 32

# uint8 images (n, H, W, 3) → features (n, d). The FID Inception's pool_3 by default.
FeatureExtractor = Callable[[np.ndarray], np.ndarray]


@dataclasses.dataclass(frozen=True)
class ImageScan:
    """What one cheap pass over a source found.

    Attributes:
        count: number of images.
        size: (width, height) shared by all of them; None when there are none.
        digest: SHA-256 over every image's encoded bytes, in order (the content hash).
    """

    count: int
    size: tuple[int, int] | None
    digest: str


def _mixed_sizes(origin, size, first_origin, first_size) -> DataError:
    return DataError(
        f"{origin} is {size[0]}×{size[1]} but {first_origin} is {first_size[0]}×{first_size[1]}: "
        "all images must have one size (Kaggle's are 256×256)"
    )


def scan_images(source) -> ImageScan:
    """Reads a source once without decoding pixels: counts, hashes, checks one size.

    Only image headers are parsed (`painter.data.iter_checked_images`), so bad inputs
    fail in seconds, before the network runs.

    Raises:
        DataError: an entry that is not an image, or images of different sizes.
    """
    from painter.data import iter_checked_images

    digest = hashlib.sha256()
    count, first_size, first_origin = 0, None, None
    for item, header in iter_checked_images(source):
        size = (header.width, header.height)
        if first_size is None:
            first_size, first_origin = size, item.origin
        elif size != first_size:
            raise _mixed_sizes(item.origin, size, first_origin, first_size)
        digest.update(len(item.data).to_bytes(8, "little"))
        digest.update(item.data)
        count += 1
    return ImageScan(count, first_size, digest.hexdigest())


def decoded_images(source) -> Iterator[np.ndarray]:
    """Decodes every image of a source to uint8 RGB, checking they share one size.

    Args:
        source: anything `painter.data.iter_encoded_images` reads: an images.zip, a
            folder of JPEG/PNG, TFRecords (folder or glob), a Kaggle root + domain.

    Raises:
        DataError: an entry that is not an image, or images of different sizes (Kaggle's
            are all 256×256), naming the entries.
    """
    from painter.data import decode_rgb, iter_encoded_images

    first = None
    for item in iter_encoded_images(source):
        image = decode_rgb(item.data, item.origin)
        if first is None:
            first = (image.shape, item.origin)
        elif image.shape != first[0]:
            raise _mixed_sizes(
                item.origin, image.shape[1::-1], first[1], first[0][1::-1]
            )
        yield image


def _batches(images: Iterable[np.ndarray], batch: int) -> Iterator[np.ndarray]:
    buffer = []
    for image in images:
        buffer.append(image)
        if len(buffer) == batch:
            yield np.stack(buffer)
            buffer = []
    if buffer:
        yield np.stack(buffer)


def network_extractor(model) -> FeatureExtractor:
    """A Keras model (e.g. `fid_inception()`) as a `FeatureExtractor`: its outputs of a
    batch as float64, widened as Kaggle's `np.empty` buffer does."""
    return lambda images: np.asarray(model.predict_on_batch(images), dtype=np.float64)


def fid_feature_extractor(weights: str | os.PathLike = "fid") -> FeatureExtractor:
    """The FID Inception (`painter.metrics.fid_inception`) as a `FeatureExtractor`."""
    from painter.metrics.inception import fid_inception

    return network_extractor(fid_inception(weights=weights))


def image_features(
    images: Iterable[np.ndarray],
    extractor: FeatureExtractor,
    batch: int = DEFAULT_BATCH,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Features of images through `extractor`, `batch` at a time.

    Args:
        images: uint8 RGB arrays (H, W, 3) of one size, any iterable (streamed), or one
            array (n, H, W, 3).
        extractor: a `FeatureExtractor` (`fid_feature_extractor()` for MiFID).
        batch: images per call. Default 32.
        progress: called with the number of images done after each batch.

    Returns:
        float64 array (n, d); (0, 2048) for no images.

    Raises:
        ValueError: `batch` < 1.
    """
    if not isinstance(batch, int) or batch < 1:
        raise ValueError(f"`batch` must be a positive int. Received: batch={batch!r}")
    chunks = []
    done = 0
    for images_batch in _batches(images, batch):
        chunks.append(np.asarray(extractor(images_batch), dtype=np.float64))
        done += len(images_batch)
        if progress is not None:
            progress(done)
    if not chunks:
        return np.empty((0, FID_FEATURES), dtype=np.float64)
    return np.concatenate(chunks)


def inception_features(
    images: Iterable[np.ndarray],
    batch: int = DEFAULT_BATCH,
    model=None,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Runs the FID Inception over images, `batch` at a time (`image_features`).

    Args:
        images: uint8 RGB arrays (H, W, 3) of one size, any iterable (streamed).
        batch: images per forward pass. Default 32.
        model: a `fid_inception()` model; default builds one with the cached weights.
        progress: called with the number of images done after each batch.

    Returns:
        float64 array (n, 2048): the network's float32 outputs, widened as Kaggle's
        `np.empty` buffer does.

    Raises:
        ValueError: `batch` < 1.
        WeightsError: no model given and no cached weights.
    """
    if not isinstance(batch, int) or batch < 1:
        raise ValueError(f"`batch` must be a positive int. Received: batch={batch!r}")
    if model is None:
        from painter.metrics.inception import fid_inception

        model = fid_inception()
    return image_features(images, network_extractor(model), batch, progress)


def decode_photos(files: Iterable, image_size: int = 256) -> np.ndarray:
    """uint8 (n, image_size, image_size, 3) of image files (or `EncodedImage`s)."""
    from painter.data import decode_rgb

    images = []
    for item in files:
        if hasattr(item, "data"):
            images.append(decode_rgb(item.data, item.origin, image_size=image_size))
        else:
            images.append(decode_rgb(Path(item).read_bytes(), str(item), image_size=image_size))
    return np.stack(images)


def jpeg_round_trip(images: np.ndarray, quality: int = 95) -> np.ndarray:
    """The images as a submission holds them: JPEG-encoded at `quality`, decoded back."""
    from painter.data import decode_rgb, encode_jpeg

    return np.stack([decode_rgb(encode_jpeg(image, quality=quality), "jpeg") for image in images])
