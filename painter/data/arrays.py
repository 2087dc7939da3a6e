"""numpy batches for `model.fit` without TensorFlow (Keras on JAX): the same data as the
`tf.data` pipelines of `painter.data.pipeline` and `painter.data.paired`.

Each dataset is a `keras.utils.PyDataset` whose batches Keras' own thread pool prepares
ahead of the train step (`workers` threads; Pillow releases the GIL while it decodes).
The source is scanned first, as the pipelines scan it (`pipeline._scan`, `scan_pairs`), so
bad data fails before training with the same one-line `DataError` naming the file and
record; encoded TFRecord and zip images are kept from that scan, image files are read
again when needed.

The same semantics as the pipelines:

- float32 images in [-1, 1], (batch, image_size, image_size, 3); other sizes resized
  (Pillow bilinear, antialiased, against TensorFlow's antialiased bilinear: a level or so);
- JPEGs decoded with libjpeg's exact IDCT on both paths (the pipelines ask TensorFlow for
  `INTEGER_ACCURATE`), so without augmentation the pixels are the same;
- without shuffling, the same order: TFRecord files interleaved as `tf.data`'s
  `interleave` reads them (`_interleaved`), other sources in their sorted order;
- shuffling: a new seeded permutation of all images every pass (the pipelines shuffle
  files, then images in a buffer of `shuffle_buffer`: a different order from the same
  seed, the same kind of order);
- `augment`: a random horizontal flip, a resize to `round(image_size · 286 / 256)` and a
  random crop back (`random_jitter`'s steps, in Pillow: within 0.01 of a level of
  Keras' layers), seeded per image; pairs get the same flip and crop on both;
- batch sizes, drop-remainder, `repeat`, the unpaired epoch (`unpaired_steps` batches of
  photos, the last topped up from the next shuffle; the Monets repeated) and the paired
  epoch as the pipelines count them.

A batch is a function of its index alone (the seed, the epoch and the position pick the
images and their augmentation), so the threads may prepare batches in any order.
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from painter.data.images import decode_rgb
from painter.data.pipeline import _check_args, _scan, _Scan, unpaired_steps
from painter.data.sources import SourceLike, resolve_source
from painter.errors import UsageError

# Batches prepared ahead of the train step, and the threads preparing them.
_QUEUE = 8
_ORDER, _AUGMENT = 0, 1  # keys of the seeded random streams


def _workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def _interleaved(counts: list[int], cycle: int) -> list[tuple[int, int]]:
    """(file, record) in the order `tf.data`'s deterministic `interleave` reads files of
    `counts` records, `cycle` open at once, one record from each in turn: a file that ends
    leaves its slot empty until the turn comes back to it, when the next file opens there."""
    order: list[tuple[int, int]] = []
    slots: list[list[int] | None] = [None] * cycle  # [file, next record]
    next_file = slot = 0
    while next_file < len(counts) or any(s is not None for s in slots):
        current = slots[slot]
        if current is None:
            if next_file < len(counts):
                slots[slot] = [next_file, 0]
                next_file += 1
                continue
        elif current[1] < counts[current[0]]:
            order.append((current[0], current[1]))
            current[1] += 1
        else:
            slots[slot] = None
        slot = (slot + 1) % cycle
    return order


def _read_order(scan: _Scan) -> np.ndarray:
    """Indices into `scan.entries` in the order an unshuffled pipeline yields them."""
    source = scan.source
    if source.kind != "tfrecord" or scan.bad:
        return np.arange(scan.count)
    counts = [0] * len(source.files)
    by_name = {str(path): i for i, path in enumerate(source.files)}
    for origin, _ in scan.entries:
        counts[by_name[origin.rsplit("#", 1)[0]]] += 1
    starts = np.cumsum([0] + counts)
    pairs = _interleaved(counts, min(len(source.files), 16))
    return np.array([starts[f] + r for f, r in pairs], dtype=np.int64)


def _seed(seed: int | None) -> int:
    """`seed`, or fresh entropy for an unseeded dataset (fixed for its life, so a batch
    stays a function of its index)."""
    return int(np.random.SeedSequence().entropy) if seed is None else seed


def _jitter_params(rng: np.random.Generator, image_size: int) -> tuple[bool, int, int]:
    jitter = round(image_size * 286 / 256)
    flip = bool(rng.random() < 0.5)
    top, left = rng.integers(0, jitter - image_size + 1, size=2)
    return flip, int(top), int(left)


def _jittered(image: np.ndarray, params: tuple[bool, int, int], image_size: int) -> np.ndarray:
    """`random_jitter` on a uint8 image: flip, resize to the jitter size, crop back; float32
    levels in [0, 255] (Pillow's bilinear on float channels, as Keras' `Resizing` on float:
    within 0.01 of a level)."""
    flip, top, left = params
    jitter = round(image_size * 286 / 256)
    if flip:
        image = image[:, ::-1]
    channels = [np.asarray(Image.fromarray(image[..., c].astype(np.float32), "F").resize(
        (jitter, jitter), Image.BILINEAR)) for c in range(image.shape[-1])]
    return np.stack(channels, axis=-1)[top:top + image_size, left:left + image_size]


def _unit_range(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float32) / np.float32(127.5) - np.float32(1.0)


class _Images:
    """Random access to a scanned source's images, decoded to uint8 (s, s, 3)."""

    def __init__(self, scan: _Scan, image_size: int, cache: bool):
        self.scan = scan
        self.image_size = image_size
        self._cache: dict[int, np.ndarray] | None = {} if cache else None

    def __len__(self) -> int:
        return self.scan.count

    def __getitem__(self, index: int) -> np.ndarray:
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        origin, data = self.scan.entries[index]
        if data is None:
            data = Path(origin).read_bytes()
        image = decode_rgb(data, origin, self.image_size)
        if self._cache is not None:
            self._cache[index] = image
        return image


class _Stream:
    """A domain's images in training order: passes over `order`, each pass a new seeded
    permutation when shuffling; `epoch` starts a new run of passes (as a `tf.data`
    iterator created anew does)."""

    def __init__(self, size: int, order: np.ndarray, shuffle: bool, seed: int):
        self.size, self.order, self.shuffle, self.seed = size, order, shuffle, seed

    @functools.lru_cache(maxsize=16)
    def _pass(self, epoch: int, number: int) -> np.ndarray:
        if not self.shuffle:
            return self.order
        return np.random.default_rng([self.seed, _ORDER, epoch, number]).permutation(self.order)

    def indices(self, epoch: int, start: int, stop: int) -> list[int]:
        """The source indices of items [start, stop) of `epoch`."""
        return [int(self._pass(epoch, k // self.size)[k % self.size]) for k in range(start, stop)]

    def augment_rng(self, epoch: int, item: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, _AUGMENT, epoch, item])


def _image_batch(images: _Images, stream: _Stream, augment: bool, epoch: int, start: int,
                 stop: int) -> np.ndarray:
    out = []
    for item, index in zip(range(start, stop), stream.indices(epoch, start, stop)):
        image = images[index]
        if augment:
            rng = stream.augment_rng(epoch, item)
            image = _jittered(image, _jitter_params(rng, images.image_size), images.image_size)
        out.append(image)
    return _unit_range(np.stack(out))


@functools.cache
def _py_dataset_class():
    import keras

    class ArrayBatches(keras.utils.PyDataset):
        """Batches made by `make(epoch, index)`; `num_batches` per epoch, or None: one
        endless epoch. A finite dataset counts its epochs, so each pass reshuffles."""

        def __init__(self, make: Callable, num_batches: int | None, workers: int):
            super().__init__(workers=workers, use_multiprocessing=False, max_queue_size=_QUEUE)
            self._make = make
            self._num_batches = num_batches
            self.epoch = 0

        @property
        def num_batches(self) -> int | None:
            return self._num_batches

        def __getitem__(self, index: int):
            if self._num_batches is not None and not 0 <= index < self._num_batches:
                raise IndexError(f"batch {index} of {self._num_batches}")
            return self._make(self.epoch, index)

        def on_epoch_end(self) -> None:
            self.epoch += 1

    return ArrayBatches


def array_batches(make: Callable, num_batches: int | None, workers: int | None = None):
    """A `keras.utils.PyDataset` of `make(epoch, index)` batches (see `_py_dataset_class`).

    Args:
        make: (epoch, batch index) → a tuple of numpy arrays.
        num_batches: batches per epoch; None: endless.
        workers: threads preparing batches. Default None: the CPU count, at most 8.
    """
    return _py_dataset_class()(make, num_batches, workers or _workers())


def image_arrays(
    source: SourceLike,
    *,
    image_size: int = 256,
    batch_size: int,
    shuffle: bool = False,
    augment: bool = False,
    repeat: bool = False,
    cache: bool = False,
    seed: int | None = None,
    skip_bad: bool = False,
    drop_remainder: bool = True,
    shuffle_buffer: int = 2048,
    workers: int | None = None,
):
    """`pipeline.image_dataset` as numpy batches: a PyDataset of `(images,)` float32
    (batch_size, image_size, image_size, 3) in [-1, 1].

    Arguments as `image_dataset`'s (`shuffle_buffer` is only checked: each pass is a full
    permutation). With `repeat`, one endless epoch of passes; without, one pass per epoch
    (`count // batch_size` batches, or the partial last one too without `drop_remainder`),
    reshuffled every epoch.

    Raises:
        UsageError: a missing path; fewer images than one batch without `repeat`.
        DataError: bad data (without `skip_bad`), or no readable image.
    """
    _check_args(image_size, batch_size, shuffle_buffer)
    if batch_size is None:
        raise ValueError("batch_size must be a positive int for numpy batches. "
                         "Received: batch_size=None")
    scan = _scan(source, skip_bad, keep_data=True)
    if drop_remainder and not repeat and scan.count < batch_size:
        raise UsageError(
            f"{scan.source}: {scan.count} images, fewer than one batch of {batch_size}")
    images = _Images(scan, image_size, cache)
    stream = _Stream(scan.count, _read_order(scan), shuffle, _seed(seed))
    if repeat:
        num_batches = None
    elif drop_remainder:
        num_batches = scan.count // batch_size
    else:
        num_batches = math.ceil(scan.count / batch_size)

    def make(epoch: int, index: int):
        start = index * batch_size
        stop = start + batch_size if repeat else min(start + batch_size, scan.count)
        # An endless dataset is one run of passes, like a repeated tf.data pipeline.
        return (_image_batch(images, stream, augment, 0 if repeat else epoch, start, stop),)

    return array_batches(make, num_batches, workers)


def monet_arrays(root, **kwargs):
    """`image_arrays` of a Kaggle-layout root's Monets (`monet_tfrec/`, else `monet_jpg/`)."""
    return image_arrays(resolve_source(root, domain="monet"), **kwargs)


def source_images(source: SourceLike, count: int, image_size: int = 256) -> np.ndarray:
    """The first `count` images of `source` (fewer if it holds fewer), float32 in [-1, 1],
    in the order an unshuffled `image_dataset` yields them (TFRecord files interleaved)."""
    scan = _scan(source, False, keep_data=True)
    images = _Images(scan, image_size, cache=False)
    order = _read_order(scan)[:count]
    return _unit_range(np.stack([images[int(i)] for i in order]))


def unpaired_arrays(
    photo_source: SourceLike,
    monet_source: SourceLike,
    *,
    batch_size: int,
    image_size: int = 256,
    augment: bool = True,
    seed: int | None = 0,
    cache: bool = False,
    skip_bad: bool = False,
    shuffle_buffer: int = 2048,
    workers: int | None = None,
):
    """`pipeline.unpaired_dataset` as numpy batches: an endless PyDataset of
    `(photos, monets)`, each float32 (batch_size, image_size, image_size, 3) in [-1, 1].

    Every `unpaired_steps(photos, batch_size)` batches make an epoch: every photo once,
    in a new order, the last batch topped up from the next shuffle; the Monets (seeded
    with seed + 2) repeated and reshuffled on every pass, from a new shuffle each epoch.

    Returns:
        (dataset, steps): the PyDataset and the batches of one epoch.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int. Received: {batch_size=}")
    _check_args(image_size, batch_size, shuffle_buffer)
    photo_scan = _scan(photo_source, skip_bad, keep_data=True)
    monet_scan = _scan(monet_source, skip_bad, keep_data=True)
    steps = unpaired_steps(photo_scan.count, batch_size)
    base = _seed(seed)
    photos, monets = _Images(photo_scan, image_size, cache), _Images(monet_scan, image_size, cache)
    photo_stream = _Stream(photo_scan.count, _read_order(photo_scan), True, base)
    monet_stream = _Stream(monet_scan.count, _read_order(monet_scan), True, base + 2)

    def make(_, index: int):
        epoch, step = divmod(index, steps)
        start, stop = step * batch_size, (step + 1) * batch_size
        return (_image_batch(photos, photo_stream, augment, epoch, start, stop),
                _image_batch(monets, monet_stream, augment, epoch, start, stop))

    return array_batches(make, None, workers), steps


def paired_arrays(
    source,
    *,
    batch_size: int,
    image_size: int = 256,
    direction: str = "AtoB",
    augment: bool = True,
    shuffle: bool = True,
    seed: int | None = 0,
    repeat: bool = True,
    workers: int | None = None,
):
    """`paired.paired_dataset` as numpy batches of `(inputs, targets)`, each float32
    (batch_size, image_size, image_size, 3) in [-1, 1]; the same flip and crop on both.

    Returns:
        (dataset, steps): with `repeat` an endless PyDataset whose every `steps =
        ceil(pairs / batch_size)` batches show every pair (the last topped up from the next
        shuffle); without, one pass per epoch, the last partial batch dropped
        (`pairs // batch_size` batches).
    """
    from painter.data.paired import (
        _CACHE_BYTES,
        _check_direction,
        _checked_pairs,
        _resized,
        _split,
        scan_pairs,
    )

    _check_direction(direction)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int. Received: {batch_size=}")
    scan = scan_pairs(source)
    entries = [(origin, data, b) for _, origin, data, b, _ in _checked_pairs(scan.source)]
    # Kept decoded when they fit in _CACHE_BYTES, as the pipeline keeps them.
    keep = scan.count * 2 * 3 * image_size**2 <= _CACHE_BYTES
    cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def pair(index: int) -> tuple[np.ndarray, np.ndarray]:
        if index in cache:
            return cache[index]
        origin, data, b = entries[index]
        if b is None:
            a, b_image = _split(decode_rgb(data, origin))
            a, b_image = (_resized(x, image_size) for x in (a, b_image))
        else:
            a, b_image = decode_rgb(data, origin, image_size), decode_rgb(b, origin, image_size)
        if keep:
            cache[index] = (a, b_image)
        return a, b_image

    stream = _Stream(scan.count, np.arange(scan.count), shuffle, _seed(seed))
    steps = math.ceil(scan.count / batch_size)

    def make(epoch: int, index: int):
        if repeat:
            epoch, index = divmod(index, steps)
        start = index * batch_size
        inputs, targets = [], []
        for item, i in zip(range(start, start + batch_size),
                           stream.indices(epoch, start, start + batch_size)):
            a, b = pair(i)
            if augment:
                params = _jitter_params(stream.augment_rng(epoch, item), image_size)
                a, b = _jittered(a, params, image_size), _jittered(b, params, image_size)
            inputs.append(a)
            targets.append(b)
        batch = (_unit_range(np.stack(inputs)), _unit_range(np.stack(targets)))
        return batch if direction == "AtoB" else batch[::-1]

    if repeat:
        return array_batches(make, None, workers), steps
    return array_batches(make, scan.count // batch_size, workers), scan.count // batch_size

