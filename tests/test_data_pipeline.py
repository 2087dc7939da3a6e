"""tf.data pipelines: shapes, ranges, augmentation, unpaired epochs, sharding, and
MirroredStrategy over the two logical CPUs of conftest."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from painter.data import (
    count_images,
    decode_rgb,
    image_dataset,
    monet_dataset,
    unpaired_dataset,
    unpaired_steps,
    write_tfrecords,
)
from painter.errors import DataError, UsageError

FILE = tf.data.experimental.AutoShardPolicy.FILE
DATA = tf.data.experimental.AutoShardPolicy.DATA


def pixel_hash(image) -> str:
    """Hash of an image's pixels as uint8 (float [-1, 1] maps back exactly)."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = np.round((image + 1.0) * 127.5).astype(np.uint8)
    return hashlib.sha1(image.tobytes()).hexdigest()


def policy(dataset):
    return dataset.options().experimental_distribute.auto_shard_policy


def _subset(tmp_path: Path, sample_dir: Path, domain: str, count: int) -> Path:
    folder = tmp_path / f"{domain}_{count}"
    folder.mkdir()
    for p in sorted((sample_dir / f"{domain}_jpg").glob("*.jpg"))[:count]:
        shutil.copy(p, folder / p.name)
    return folder


def test_static_shapes_range_and_cardinality(sample_dir):
    dataset = monet_dataset(sample_dir, image_size=64, batch_size=8)
    assert dataset.element_spec.shape == (8, 64, 64, 3)
    assert dataset.element_spec.dtype == tf.float32
    assert int(dataset.cardinality()) == 32 // 8
    batches = [b.numpy() for b in dataset]
    assert len(batches) == 4
    values = np.concatenate(batches)
    assert values.min() >= -1.0 and values.max() <= 1.0
    assert values.min() < -0.9 and values.max() > 0.9  # really scaled, not squashed


def test_without_resize_pixels_are_the_jpeg_pixels(sample_dir):
    path = sorted((sample_dir / "photo_jpg").glob("*.jpg"))[0]
    (image,) = list(image_dataset([path]))
    # libjpeg's exact IDCT, as Pillow decodes (and the TensorFlow-free reader)
    expected = tf.io.decode_jpeg(path.read_bytes(), channels=3,
                                 dct_method="INTEGER_ACCURATE").numpy()
    np.testing.assert_array_equal(np.round((image.numpy() + 1) * 127.5), expected)
    np.testing.assert_array_equal(expected, decode_rgb(path.read_bytes(), str(path)))


def test_augmentation_keeps_shape_and_range_and_differs_across_epochs(sample_dir, tmp_path):
    folder = _subset(tmp_path, sample_dir, "monet", 4)
    plain = image_dataset(folder, image_size=64, batch_size=4)
    augmented = image_dataset(folder, image_size=64, batch_size=4, augment=True, seed=3)
    assert augmented.element_spec.shape == (4, 64, 64, 3)
    first, second = [next(iter(augmented)).numpy() for _ in range(2)]
    reference = next(iter(plain)).numpy()
    for batch in (first, second):
        assert batch.shape == (4, 64, 64, 3)
        assert batch.min() >= -1.0 and batch.max() <= 1.0
        assert not np.allclose(batch, reference)
    assert not np.allclose(first, second)
    # without augmentation or shuffling, epochs are identical
    np.testing.assert_array_equal(next(iter(plain)).numpy(), reference)


def test_cache_keeps_every_image_and_mixed_precision_keeps_float32(sample_dir, tmp_path):
    import keras

    folder = _subset(tmp_path, sample_dir, "monet", 6)
    reference = sorted(pixel_hash(x) for x in image_dataset(folder, image_size=32))
    cached = image_dataset(folder, image_size=32, shuffle=True, cache=True, seed=0)
    for _ in range(2):
        assert sorted(pixel_hash(x) for x in cached) == reference
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        augmented = image_dataset(folder, image_size=32, augment=True, batch_size=2)
    finally:
        keras.mixed_precision.set_global_policy(policy)
    assert augmented.element_spec.dtype == tf.float32


def test_unpaired_epoch_covers_all_photos_and_repeats_monets(sample_dir, tmp_path):
    photos = _subset(tmp_path, sample_dir, "photo", 10)
    monets = _subset(tmp_path, sample_dir, "monet", 3)
    reference = {pixel_hash(x) for x in image_dataset(photos, image_size=32)}
    monet_reference = {pixel_hash(x) for x in image_dataset(monets, image_size=32)}
    assert len(reference) == 10 and len(monet_reference) == 3

    pairs = unpaired_dataset(photos, monets, batch_size=4, image_size=32, augment=False, seed=1)
    assert unpaired_steps(10, 4) == 3 and int(pairs.cardinality()) == 3
    assert pairs.element_spec[0].shape == (4, 32, 32, 3)
    orders, monet_passes = [], set()
    for _ in range(2):  # two epochs
        batches = list(pairs)
        assert len(batches) == 3
        seen = [pixel_hash(x) for photo, _ in batches for x in photo.numpy()]
        monet_seen = [pixel_hash(x) for _, monet in batches for x in monet.numpy()]
        assert len(seen) == 12 and set(seen) == reference  # every photo, topped up by 2
        assert len(set(seen[:10])) == 10  # the first 10 are one full shuffle
        assert len(monet_seen) == 12 and set(monet_seen) == monet_reference
        for i in (0, 3, 6, 9):  # whole passes over the Monets, one after another
            assert sorted(monet_seen[i:i + 3]) == sorted(monet_reference)
            monet_passes.add(tuple(monet_seen[i:i + 3]))
        orders.append(seen)
    assert orders[0] != orders[1]  # photos reshuffled each epoch
    assert len(monet_passes) > 1  # Monets reshuffled on each pass


def test_sharding_policy(sample_dir, tmp_path):
    write_tfrecords((sample_dir, "monet"), tmp_path / "tf", "monet", per_file=8)  # 4 files
    assert policy(image_dataset(tmp_path / "tf", num_workers=1)) == FILE
    assert policy(image_dataset(tmp_path / "tf", num_workers=4)) == FILE
    assert policy(image_dataset(tmp_path / "tf", num_workers=5)) == DATA
    assert policy(image_dataset(sample_dir / "monet_jpg", num_workers=1)) == DATA


def test_skip_bad_in_pipeline(sample_dir, tmp_path):
    result = write_tfrecords((sample_dir, "monet"), tmp_path, "monet", per_file=6)
    path = result.files[0]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=rf"^{path}: record \d: checksum mismatch"):
        image_dataset(tmp_path)
    assert count_images(tmp_path, skip_bad=True) == 31
    images = list(image_dataset(tmp_path, image_size=32, skip_bad=True))
    assert len(images) == 31 and images[0].shape == (32, 32, 3)


def test_argument_checks(sample_dir):
    with pytest.raises(ValueError, match="Received: batch_size=0"):
        image_dataset(sample_dir / "monet_jpg", batch_size=0)
    with pytest.raises(UsageError, match="32 images, fewer than one batch of 64"):
        image_dataset(sample_dir / "monet_jpg", batch_size=64)


def test_mirrored_strategy_real_monets(shared_data):
    devices = [d.name for d in tf.config.list_logical_devices("CPU")][:2]
    assert len(devices) == 2, "conftest should make two logical CPUs"
    reference = [pixel_hash(x) for x in image_dataset(shared_data / "monet_tfrec")]
    assert len(reference) == 300 and len(set(reference)) == 300

    strategy = tf.distribute.MirroredStrategy(devices)
    with strategy.scope():
        dataset = image_dataset(shared_data / "monet_tfrec", batch_size=4, shuffle=True, seed=0)
    assert policy(dataset) == FILE
    distributed = strategy.experimental_distribute_dataset(dataset)
    seen, steps = [], 0
    for batch in distributed:
        parts = strategy.experimental_local_results(batch)
        assert len(parts) == 2 and [p.shape for p in parts] == [(2, 256, 256, 3)] * 2
        assert [p.device.split("/")[-1] for p in parts] == ["device:CPU:0", "device:CPU:1"]
        seen += [pixel_hash(x) for p in parts for x in p.numpy()]
        steps += 1
    assert steps == 75
    assert sorted(seen) == sorted(reference)  # each image exactly once per epoch
    assert seen != reference  # and shuffled


def test_mirrored_strategy_unpaired_built_in_scope(sample_dir):
    devices = [d.name for d in tf.config.list_logical_devices("CPU")][:2]
    strategy = tf.distribute.MirroredStrategy(devices)
    with strategy.scope():
        pairs = unpaired_dataset((sample_dir, "photo"), (sample_dir, "monet"), batch_size=4,
                                 image_size=32, augment=True)
    distributed = strategy.experimental_distribute_dataset(pairs)
    steps = 0
    for photos, monets in distributed:
        local = strategy.experimental_local_results
        for part in local(photos) + local(monets):
            assert part.shape == (2, 32, 32, 3)
        steps += 1
    assert steps == 8
