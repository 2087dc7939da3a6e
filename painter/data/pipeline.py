"""tf.data pipelines: any source → float32 images in [-1, 1] with static shapes.

Before a dataset is built its source is scanned once (`iter_checked_images`: frame
checksums, headers, completeness; no full decode), so bad data fails here with a one-line
`DataError` naming the file and record, not mid-training inside a tf.data iterator; the
scan also gives the image count (asserted as the dataset's cardinality) and sizes.

Stages: files (shuffled with `shuffle`) → interleaved TFRecord readers / parallel file
reads → parallel decode to uint8 (resized to `image_size` only if some image differs) →
`cache` (uint8: 4× smaller than float32) → `shuffle` → `repeat` → float32 [-1, 1] →
`augment` (Keras 3 preprocessing layers: random horizontal flip; random jitter = resize to
image_size·286/256 then random crop back) → batch with the GLOBAL batch size → prefetch.

Sharding across workers (`tf.distribute`): FILE when a TFRecord source has at least as
many files as workers, else DATA. Image folders are sharded by DATA (FILE sharding needs a
reader dataset such as TFRecordDataset). A zip, or a TFRecord source with bad records
skipped, is read through Python (`from_generator`) and is sharded by DATA too.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path
from typing import Callable

from painter.data.images import BadEntry
from painter.data.reader import iter_checked_images, iter_encoded_images
from painter.data.sources import Source, SourceLike, resolve_source
from painter.errors import DataError, UsageError

_log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class _Scan:
    source: Source
    count: int
    sizes: frozenset  # {(width, height)}
    good_files: tuple[Path, ...]  # images sources: the readable files
    bad: tuple[BadEntry, ...]
    # with keep_data: (origin, encoded bytes) of each readable image; None for a file,
    # read again when needed
    entries: tuple[tuple[str, bytes | None], ...] = ()


def _scan(source: SourceLike, skip_bad: bool, keep_data: bool = False) -> _Scan:
    source = resolve_source(source)
    bad: list[BadEntry] = []
    sizes = set()
    good_files = []
    entries = []
    count = 0
    for image, header in iter_checked_images(source, skip_bad=skip_bad, report=bad):
        count += 1
        sizes.add((header.width, header.height))
        if source.kind == "images":
            good_files.append(Path(image.origin))
        if keep_data:
            entries.append((image.origin, None if source.kind == "images" else image.data))
    if bad:
        _log.warning("%s: skipping %d bad entries, first: %s", source, len(bad), bad[0])
    if count == 0:
        raise DataError(f"{source}: no readable images")
    return _Scan(source, count, frozenset(sizes), tuple(good_files), tuple(bad), tuple(entries))


def count_images(source: SourceLike, *, skip_bad: bool = False) -> int:
    """The number of readable images in `source` (a scan; no full decode).

    Raises:
        DataError: a bad entry (without `skip_bad`), or no readable image.
    """
    return _scan(source, skip_bad).count


def _num_workers() -> int:
    """Input workers of the strategy in scope (hosts of a TPU pod, multi-worker CPUs/GPUs)."""
    import tensorflow as tf

    resolver = getattr(tf.distribute.get_strategy(), "cluster_resolver", None)
    if resolver is None:
        return 1
    spec = resolver.cluster_spec()
    return max(1, sum(spec.num_tasks(job) for job in ("chief", "worker") if job in spec.jobs))


def _shardable_files(scan: _Scan) -> int:
    """Files tf.data can shard by: TFRecords read by TFRecordDataset. FILE sharding needs
    a reader dataset, which a folder of images (read_file) or Python-fed bytes lack."""
    return len(scan.source.files) if scan.source.kind == "tfrecord" and not scan.bad else 0


def shard_policy(files: int, num_workers: int):
    """FILE when there are at least as many files as workers, else DATA."""
    import tensorflow as tf

    policy = tf.data.experimental.AutoShardPolicy
    return policy.FILE if files >= max(num_workers, 1) else policy.DATA


def random_jitter(image_size: int = 256, seed: int | None = None) -> Callable:
    """The CycleGAN augmentation as a function of one float image (H, W, 3).

    Random horizontal flip, then resize to `round(image_size * 286 / 256)` and a random
    crop back to `image_size` (Keras 3 preprocessing layers; values stay in range since
    bilinear resizing only averages).

    Args:
        image_size: the output size. Default 256 (jitter size 286).
        seed: seeds the flip (`seed`) and the crop (`seed + 1`). Default None: unseeded.
    """
    import keras

    if not isinstance(image_size, int) or image_size < 1:
        raise ValueError(f"image_size must be a positive int. Received: {image_size=}")
    jitter = round(image_size * 286 / 256)
    # float32 whatever the global mixed-precision policy: the data stays float32.
    flip = keras.layers.RandomFlip("horizontal", seed=seed, dtype="float32", name="jitter_flip")
    resize = keras.layers.Resizing(jitter, jitter, dtype="float32", name="jitter_resize")
    crop = keras.layers.RandomCrop(image_size, image_size, seed=None if seed is None else seed + 1,
                                   dtype="float32", name="jitter_crop")

    def augment(image):
        return crop(resize(flip(image, training=True)), training=True)

    return augment


def _plain(function: Callable) -> Callable:
    """`function` without AutoGraph: these map functions have no tensor-dependent Python
    control flow, and converting them (Keras layers included) costs ~1 s per dataset."""
    import tensorflow as tf

    return tf.autograph.experimental.do_not_convert(function)


def _encoded_dataset(scan: _Scan, shuffle: bool, seed: int | None):
    """tf.string dataset of encoded images, `scan.count` elements."""
    import tensorflow as tf

    autotune = tf.data.AUTOTUNE
    source = scan.source
    deterministic = seed is not None or not shuffle
    if source.kind == "tfrecord" and not scan.bad:
        files = tf.data.Dataset.from_tensor_slices([str(p) for p in source.files])
        if shuffle:
            files = files.shuffle(len(source.files), seed=seed, reshuffle_each_iteration=True)
        records = files.interleave(
            tf.data.TFRecordDataset, cycle_length=min(len(source.files), 16),
            num_parallel_calls=autotune, deterministic=deterministic,
        )
        feature = {"image": tf.io.FixedLenFeature([], tf.string)}
        encoded = records.map(_plain(lambda r: tf.io.parse_single_example(r, feature)["image"]),
                              num_parallel_calls=autotune, deterministic=deterministic)
    elif source.kind == "images":
        files = tf.data.Dataset.from_tensor_slices([str(p) for p in scan.good_files])
        if shuffle:
            files = files.shuffle(len(scan.good_files), seed=seed, reshuffle_each_iteration=True)
        encoded = files.map(tf.io.read_file, num_parallel_calls=autotune,
                            deterministic=deterministic)
    else:
        def generate():
            for image in iter_encoded_images(source, skip_bad=True, report=[]):
                yield image.data

        encoded = tf.data.Dataset.from_generator(
            generate, output_signature=tf.TensorSpec(shape=(), dtype=tf.string))
    return encoded.apply(tf.data.experimental.assert_cardinality(scan.count))


def _decoder(scan: _Scan, image_size: int) -> Callable:
    """encoded bytes → uint8 (image_size, image_size, 3)."""
    import tensorflow as tf

    jpeg_only = scan.source.kind == "tfrecord"
    needs_resize = scan.sizes != {(image_size, image_size)}

    def decode(data):
        # INTEGER_ACCURATE: libjpeg's exact IDCT, the one Pillow uses, so that the
        # TensorFlow-free reader (painter.data.arrays) sees the same pixels; the default,
        # INTEGER_FAST, is off by up to 17 levels on Kaggle's photos.
        if jpeg_only:
            image = tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE")
        else:
            image = tf.cond(tf.io.is_jpeg(data),
                            lambda: tf.io.decode_jpeg(data, channels=3,
                                                      dct_method="INTEGER_ACCURATE"),
                            lambda: tf.io.decode_png(data, channels=3))
        if needs_resize:
            def resize():
                resized = tf.image.resize(image, [image_size, image_size], antialias=True)
                return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)

            same = tf.reduce_all(tf.shape(image)[:2] == image_size)
            image = tf.cond(same, lambda: image, resize)
        return tf.ensure_shape(image, [image_size, image_size, 3])

    return decode


def _to_unit_range(image):
    import tensorflow as tf

    return tf.cast(image, tf.float32) / 127.5 - 1.0


def _check_args(image_size, batch_size, shuffle_buffer) -> None:
    if not isinstance(image_size, int) or image_size < 1:
        raise ValueError(f"image_size must be a positive int. Received: {image_size=}")
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size must be None or a positive int. Received: {batch_size=}")
    if not isinstance(shuffle_buffer, int) or shuffle_buffer < 1:
        raise ValueError(f"shuffle_buffer must be a positive int. Received: {shuffle_buffer=}")


def _image_stream(scan: _Scan, *, image_size, shuffle, augment, repeat, cache, seed,
                  shuffle_buffer):
    """Unbatched float32 images of `scan`, every stage before batching."""
    import tensorflow as tf

    autotune = tf.data.AUTOTUNE
    deterministic = seed is not None or not shuffle
    images = _encoded_dataset(scan, shuffle, seed).map(
        _plain(_decoder(scan, image_size)), num_parallel_calls=autotune,
        deterministic=deterministic)
    if cache:
        images = images.cache("" if cache is True else str(cache))
    if shuffle:
        images = images.shuffle(min(scan.count, shuffle_buffer), seed=seed,
                                reshuffle_each_iteration=True)
    if repeat:
        images = images.repeat()
    images = images.map(_plain(_to_unit_range), num_parallel_calls=autotune,
                        deterministic=deterministic)
    if augment:
        images = images.map(_plain(random_jitter(image_size, seed)), num_parallel_calls=autotune,
                            deterministic=deterministic)
    return images


def _with_shard_policy(dataset, policy):
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = policy
    return dataset.with_options(options)


def image_dataset(
    source: SourceLike,
    *,
    image_size: int = 256,
    batch_size: int | None = None,
    shuffle: bool = False,
    augment: bool = False,
    repeat: bool = False,
    cache: bool | str = False,
    seed: int | None = None,
    skip_bad: bool = False,
    drop_remainder: bool = True,
    shuffle_buffer: int = 2048,
    num_workers: int | None = None,
):
    """A `tf.data.Dataset` of float32 images in [-1, 1], shape (image_size, image_size, 3).

    Args:
        source: any source `painter.data` reads (folder, glob, files, zip,
            `(kaggle_root, domain)`).
        image_size: output size; other sizes are resized (bilinear, antialiased; the aspect
            ratio is not kept). Default 256.
        batch_size: the GLOBAL batch size (all replicas together). Default None: unbatched.
        shuffle: shuffle files and images, differently each epoch. Default False.
        augment: random flip and jitter (`random_jitter`). Default False.
        repeat: repeat forever. Default False.
        cache: cache the decoded uint8 images: True in memory, a str as a file prefix.
            Default False.
        seed: seeds shuffling and augmentation. Default None.
        skip_bad: skip bad entries (logged). Default False: DataError on the first.
        drop_remainder: drop a last partial batch, so every batch has a static shape.
            Default True.
        shuffle_buffer: at most this many images in the shuffle buffer. Default 2048.
        num_workers: input workers, for the sharding policy. Default None: from the
            `tf.distribute` strategy in scope.

    Raises:
        UsageError: a missing path; fewer images than one batch without `repeat`.
        DataError: bad data (without `skip_bad`), or no readable image.
    """
    _check_args(image_size, batch_size, shuffle_buffer)
    import tensorflow as tf

    scan = _scan(source, skip_bad)
    if batch_size and drop_remainder and not repeat and scan.count < batch_size:
        raise UsageError(
            f"{scan.source}: {scan.count} images, fewer than one batch of {batch_size}")
    images = _image_stream(scan, image_size=image_size, shuffle=shuffle, augment=augment,
                           repeat=repeat, cache=cache, seed=seed, shuffle_buffer=shuffle_buffer)
    if batch_size:
        images = images.batch(batch_size, drop_remainder=drop_remainder)
    images = images.prefetch(tf.data.AUTOTUNE)
    workers = _num_workers() if num_workers is None else num_workers
    return _with_shard_policy(images, shard_policy(_shardable_files(scan), workers))


def monet_dataset(root, **kwargs):
    """`image_dataset` of a Kaggle-layout root's Monets (`monet_tfrec/`, else `monet_jpg/`)."""
    return image_dataset(resolve_source(root, domain="monet"), **kwargs)


def photo_dataset(root, **kwargs):
    """`image_dataset` of a Kaggle-layout root's photos (`photo_tfrec/`, else `photo_jpg/`)."""
    return image_dataset(resolve_source(root, domain="photo"), **kwargs)


def unpaired_steps(photo_count: int, batch_size: int) -> int:
    """Batches in one unpaired epoch: enough to show every photo once."""
    return math.ceil(photo_count / batch_size)


def unpaired_dataset(
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
):
    """Unpaired (photo_batch, monet_batch) for CycleGAN; one epoch shows every photo.

    The popular tutorial zips the two datasets, so an epoch stops after the 300 Monets and
    most photos are never seen. Here the photos set the epoch: `ceil(photos / batch_size)`
    batches; the photos are reshuffled each epoch, and when the count does not divide
    evenly the last batch is topped up with photos of the next shuffle, so every batch is
    full and every photo is seen at least once per epoch. The Monets are repeated and
    reshuffled on every pass. Across several input workers the dataset is sharded by DATA,
    which keeps the epoch length the same on every worker.

    Args:
        photo_source: the photos (domain X), any source `painter.data` reads.
        monet_source: the paintings (domain Y).
        batch_size: the GLOBAL batch size.
        image_size: output size. Default 256.
        augment: random flip and jitter on both. Default True.
        seed: seeds shuffles and augmentation (the Monets use seed + 2). Default 0.
        cache: cache decoded images in memory. Default False.
        skip_bad: skip bad entries. Default False.
        shuffle_buffer: as in `image_dataset`. Default 2048.

    Returns:
        A dataset of `(photos, monets)`, each float32 (batch_size, image_size, image_size, 3)
        in [-1, 1], with cardinality `unpaired_steps(photos, batch_size)`.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int. Received: {batch_size=}")
    _check_args(image_size, batch_size, shuffle_buffer)
    import tensorflow as tf

    photo_scan = _scan(photo_source, skip_bad)
    monet_scan = _scan(monet_source, skip_bad)
    steps = unpaired_steps(photo_scan.count, batch_size)
    common = dict(image_size=image_size, shuffle=True, augment=augment, repeat=True,
                  cache=cache, shuffle_buffer=shuffle_buffer)
    photos = _image_stream(photo_scan, seed=seed, **common).take(steps * batch_size)
    # seed + 2: random_jitter uses seed and seed + 1, and the two streams stay independent.
    monets = _image_stream(monet_scan, seed=None if seed is None else seed + 2, **common)
    pairs = tf.data.Dataset.zip((photos, monets)).batch(batch_size, drop_remainder=True)
    pairs = pairs.apply(tf.data.experimental.assert_cardinality(steps))
    pairs = pairs.prefetch(tf.data.AUTOTUNE)
    return _with_shard_policy(pairs, tf.data.experimental.AutoShardPolicy.DATA)
