"""The TensorFlow-free input path (Keras on JAX): TFRecords framed, checksummed and parsed
without TensorFlow, and `painter.data.arrays`' numpy batches against the `tf.data`
pipelines: the same pixels in the same order without augmentation, the same shapes,
ranges and epoch semantics with it, the same one-line errors for corrupt records."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from conftest import run_python
from painter.data import SAMPLE_ROOT, image_dataset, unpaired_steps, write_tfrecords
from painter.data.arrays import (
    _interleaved,
    _jittered,
    image_arrays,
    paired_arrays,
    source_images,
    unpaired_arrays,
)
from painter.data.paired import PAIRED_SAMPLE_ROOT, paired_dataset
from painter.data.tfrecord import (
    _crc32c_python,
    _example_files,
    crc32c,
    encode_frame,
    example_class,
    serialize_bytes_features,
    serialize_record,
)
from test_data_errors import kaggle_records, png_bytes, write_records


def _batches(dataset) -> list:
    return [tuple(np.asarray(x) for x in (b if isinstance(b, tuple) else (b,))) for b in dataset]


def test_example_class_is_tensorflows():
    from google.protobuf import descriptor_pb2
    from tensorflow.core.example import example_pb2, feature_pb2

    def fields(file):
        return [(m.name, [(f.name, f.number, f.type, f.label, f.type_name,
                           f.HasField("oneof_index")) for f in m.field],
                 [(n.name, n.options.map_entry) for n in m.nested_type])
                for m in file.message_type]

    for mine, theirs in zip(_example_files(), (feature_pb2.DESCRIPTOR, example_pb2.DESCRIPTOR)):
        proto = descriptor_pb2.FileDescriptorProto()
        theirs.CopyToProto(proto)
        assert (mine.name, mine.package) == (proto.name, proto.package)
        assert fields(mine) == fields(proto)

    feature = tf.train.Feature
    example = tf.train.Example(features=tf.train.Features(feature={
        "image": feature(bytes_list=tf.train.BytesList(value=[b"\xff\xd8 jpeg"])),
        "scores": feature(float_list=tf.train.FloatList(value=[1.5, -2.0])),
        "ids": feature(int64_list=tf.train.Int64List(value=[3, -(2**40)])),
    }))
    parsed = example_class().FromString(example.SerializeToString()).features.feature
    assert parsed["image"].bytes_list.value == [b"\xff\xd8 jpeg"]
    assert list(parsed["scores"].float_list.value) == [1.5, -2.0]
    assert list(parsed["ids"].int64_list.value) == [3, -(2**40)]
    assert (example_class().FromString(example.SerializeToString())
            .SerializeToString(deterministic=True) == example.SerializeToString(deterministic=True))
    # written without TensorFlow, read by it
    back = tf.train.Example.FromString(serialize_record("a", b"jpeg", "monet")).features.feature
    assert {k: v.bytes_list.value[0] for k, v in back.items()} == {
        "image_name": b"a", "image": b"jpeg", "target": b"monet"}
    assert serialize_bytes_features({}) == tf.train.Example().SerializeToString()


def test_crc32c_c_extension_and_frames(tmp_path):
    import google_crc32c

    data = bytes(range(256)) * 40
    assert crc32c(b"123456789") == _crc32c_python(b"123456789") == 0xE3069283
    assert crc32c(data) == _crc32c_python(data)
    assert google_crc32c.implementation == "c"  # the fast path is the one in use here
    path = tmp_path / "x.tfrec"
    payloads = [b"", b"one", data]
    with tf.io.TFRecordWriter(str(path)) as writer:
        for payload in payloads:
            writer.write(payload)
    assert path.read_bytes() == b"".join(encode_frame(p) for p in payloads)


def test_interleaved_order_is_tf_datas(tmp_path):
    # 18 files of 1–3 records: more files than tf.data's 16 open at once, files of
    # different lengths, so slots empty and refill.
    images = sorted((SAMPLE_ROOT / "monet_jpg").glob("*.jpg"))
    counts = [1, 2, 3, 1, 2, 1, 3, 2, 1, 2, 3, 1, 2, 1, 2, 3, 1, 1]
    assert sum(counts) == len(images)
    folder, start = tmp_path / "tfrec", 0
    folder.mkdir()
    for number, count in enumerate(counts):
        frames = [encode_frame(serialize_record(p.stem, p.read_bytes(), "monet"))
                  for p in images[start:start + count]]
        (folder / f"monet{number:02d}-{count}.tfrec").write_bytes(b"".join(frames))
        start += count
    expected = np.stack([x.numpy() for x in image_dataset(folder)])
    np.testing.assert_array_equal(source_images(folder, 32), expected)
    assert _interleaved([2, 1], 2) == [(0, 0), (1, 0), (0, 1)]


def test_batches_equal_the_pipelines_without_augmentation(tmp_path):
    monets = (SAMPLE_ROOT, "monet")
    for batch_size, drop in ((8, True), (5, False)):
        dataset = image_arrays(monets, batch_size=batch_size, drop_remainder=drop)
        mine = [dataset[i] for i in range(dataset.num_batches)]
        theirs = _batches(image_dataset(monets, batch_size=batch_size, drop_remainder=drop))
        assert len(mine) == len(theirs) == (4 if drop else 7)
        for a, b in zip(mine, theirs):
            np.testing.assert_array_equal(a[0], b[0])
        assert mine[0][0].dtype == np.float32
    with pytest.raises(IndexError):
        dataset[dataset.num_batches]

    # a Kaggle root's TFRecords, read in the same interleaved order
    write_tfrecords(monets, tmp_path / "monet_tfrec", "monet", per_file=10)
    np.testing.assert_array_equal(
        image_arrays(tmp_path / "monet_tfrec", batch_size=32)[0][0],
        _batches(image_dataset(tmp_path / "monet_tfrec", batch_size=32))[0][0])

    for direction in ("AtoB", "BtoA"):
        options = dict(batch_size=4, direction=direction, augment=False, shuffle=False,
                       repeat=False)
        dataset, steps = paired_arrays(PAIRED_SAMPLE_ROOT, **options)
        expected, expected_steps = paired_dataset(PAIRED_SAMPLE_ROOT, **options)
        assert steps == expected_steps == 4
        for index, (a, b) in enumerate(_batches(expected)):
            np.testing.assert_array_equal(dataset[index][0], a)
            np.testing.assert_array_equal(dataset[index][1], b)


def test_epochs_shuffles_and_augmentation():
    photos = source_images((SAMPLE_ROOT, "photo"), 32, image_size=64)
    keys = {photo.tobytes(): i for i, photo in enumerate(photos)}
    options = dict(batch_size=5, image_size=64, seed=3)
    dataset, steps = unpaired_arrays((SAMPLE_ROOT, "photo"), (SAMPLE_ROOT, "monet"),
                                     augment=False, **options)
    assert steps == unpaired_steps(32, 5) == 7 and dataset.num_batches is None
    epochs = []
    for epoch in range(2):
        seen = [keys[x.tobytes()] for step in range(steps)
                for x in dataset[epoch * steps + step][0]]
        assert len(seen) == 35 and set(seen) == set(range(32))  # every photo, topped up
        assert len(set(seen[:32])) == 32  # one full pass before the top-up
        epochs.append(seen)
    assert epochs[0] != epochs[1] and sorted(epochs[0][:32]) == list(range(32))
    assert epochs[0][:32] != list(range(32))  # shuffled

    again, _ = unpaired_arrays((SAMPLE_ROOT, "photo"), (SAMPLE_ROOT, "monet"), augment=True,
                               **options)
    other, _ = unpaired_arrays((SAMPLE_ROOT, "photo"), (SAMPLE_ROOT, "monet"), augment=True,
                               batch_size=5, image_size=64, seed=4)
    photos_batch, monets_batch = again[9]
    assert photos_batch.shape == monets_batch.shape == (5, 64, 64, 3)
    assert photos_batch.dtype == monets_batch.dtype == np.float32
    for x in (photos_batch, monets_batch):
        assert -1.0 <= x.min() and x.max() <= 1.0
    np.testing.assert_array_equal(again[9][0], photos_batch)  # a function of its index
    assert not np.array_equal(other[9][0], photos_batch)
    # augmented photos are not the plain ones
    assert not any(x.tobytes() in keys for x in photos_batch)

    # Keras' jitter layers against Pillow's: the same resize, within 0.01 of a level.
    import keras

    image = ((photos[0] + 1) * 127.5).round().astype(np.uint8)
    resize = keras.layers.Resizing(72, 72, dtype="float32")
    expected = np.asarray(resize(image[None].astype(np.float32)))[0][5:69, 2:66]
    difference = _jittered(image, (False, 5, 2), 64) - expected
    assert np.abs(difference).max() <= 0.01
    np.testing.assert_array_equal(_jittered(image, (True, 0, 0), 64),
                                  _jittered(image[:, ::-1], (False, 0, 0), 64))


def test_paired_augmentation_keeps_pairs_aligned(tmp_path):
    for side in ("A", "B"):
        (tmp_path / side).mkdir()
        for path in sorted((SAMPLE_ROOT / "photo_jpg").glob("*.jpg"))[:6]:
            shutil.copy(path, tmp_path / side / path.name)
    dataset, steps = paired_arrays(tmp_path, batch_size=4, image_size=64, seed=1)
    assert steps == 2
    inputs, targets = dataset[3]  # epoch 1
    assert inputs.shape == (4, 64, 64, 3) and inputs.dtype == np.float32
    np.testing.assert_array_equal(inputs, targets)  # the same flip and crop on both
    plain, _ = paired_arrays(tmp_path, batch_size=4, image_size=64, augment=False, seed=1)
    assert not np.array_equal(plain[3][0], inputs)


def _corrupt_tfrecords(folder: Path, sample_dir: Path) -> dict[str, Path]:
    """The corrupt-record cases of test_data_errors, one file each."""
    folder.mkdir()
    paths = {}

    def good(name):
        path = folder / f"{name}.tfrec"
        return path, write_records(path, kaggle_records(sample_dir))

    path, offsets = good("truncated")
    path.write_bytes(path.read_bytes()[: offsets[2] + 40])
    paths["truncated"] = path
    path, offsets = good("length_crc")
    data = bytearray(path.read_bytes())
    data[offsets[2] + 1] ^= 0x01
    path.write_bytes(bytes(data))
    paths["length_crc"] = path
    path, offsets = good("payload_crc")
    data = bytearray(path.read_bytes())
    data[offsets[1] + 500] ^= 0xFF
    path.write_bytes(bytes(data))
    paths["payload_crc"] = path
    path = folder / "not_example.tfrec"
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in kaggle_records(sample_dir, 2):
            writer.write(serialize_bytes_features(record))
        writer.write(b"\x0a\xff\x01 not a protobuf")
    paths["not_example"] = path
    records = kaggle_records(sample_dir, 3)
    del records[1]["image"]
    write_records(folder / "no_image.tfrec", records)
    paths["no_image"] = folder / "no_image.tfrec"
    records = kaggle_records(sample_dir, 3)
    records[2]["image"] = png_bytes()
    write_records(folder / "png.tfrec", records)
    paths["png"] = folder / "png.tfrec"
    return paths


_TF_FREE_CHECKS = """
import contextlib, io, json, sys, time
import numpy as np
from painter.backend import has_tensorflow
from painter.cli import main
from painter.data import SAMPLE_ROOT
from painter.data.arrays import image_arrays, unpaired_arrays
from painter.families import FAMILIES
assert not has_tensorflow()
args = json.loads(ARGS)
out = {}
# the corrupt-record cases through the CLI, as a user meets them
for name, path in args["corrupt"].items():
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            main(["data", "info", path])
        except SystemExit as e:
            code = e.code
    out[name] = [code, err.getvalue()]
if args["real"]:
    start = time.perf_counter()
    (images,) = image_arrays(args["real"], batch_size=300)[0]
    out["real_seconds"] = time.perf_counter() - start
    np.save(args["pixels"], images)
# the families' data for fit, and fit on JAX taking it
import keras
steps = {}
for name in ("cyclegan", "noise_gan", "pix2pix"):
    family = FAMILIES[name]
    config = family.config_class(image_size=32, batch_size=4)
    dataset, steps[name] = family.dataset(config, SAMPLE_ROOT, seed=0)
    assert isinstance(dataset, keras.utils.PyDataset), type(dataset)
    assert {a.shape for a in dataset[0]} == {(4, 32, 32, 3)}, [a.shape for a in dataset[0]]
out["steps"] = steps
cyclegan = FAMILIES["cyclegan"]
config = cyclegan.config_class(image_size=32, sample_images=3)
np.save(args["sample"], cyclegan.sample_inputs(config, SAMPLE_ROOT, None))
dataset, _ = unpaired_arrays((SAMPLE_ROOT, "photo"), (SAMPLE_ROOT, "monet"), batch_size=4,
                             image_size=16, workers=2)
model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(3, 1)])
model.compile(optimizer="sgd", loss="mse")
history = model.fit(dataset, steps_per_epoch=3, epochs=2, verbose=0)
out["fit_epochs"] = len(history.history["loss"])
out["tensorflow_imported"] = any(m.split(".")[0] == "tensorflow" for m in sys.modules)
print("RESULT " + json.dumps(out))
"""


@pytest.mark.slow
def test_tf_free_reader_matches_tf_data(tmp_path, sample_dir, run_cli, one_error_line,
                                        jax_installed):
    """Without TensorFlow: the real Monet TFRecords read to tf.data's pixels, the
    corrupt-record cases' one-line errors, the families' data, and fit on JAX taking it."""
    from conftest import SHARED_DATA

    real = SHARED_DATA / "monet_tfrec"
    corrupt = _corrupt_tfrecords(tmp_path / "corrupt", sample_dir)
    args = {"corrupt": {k: str(v) for k, v in corrupt.items()},
            "real": str(real) if real.is_dir() else "",
            "pixels": str(tmp_path / "monets.npy"), "sample": str(tmp_path / "sample.npy")}
    result = run_python(f"ARGS = {json.dumps(args)!r}\n" + _TF_FREE_CHECKS, tensorflow=False,
                        devices=1, cwd=tmp_path)
    (line,) = [x for x in result.stdout.splitlines() if x.startswith("RESULT ")]
    out = json.loads(line[len("RESULT "):])
    assert out["tensorflow_imported"] is False
    assert out["steps"] == {"cyclegan": 8, "noise_gan": 8, "pix2pix": 4}
    assert out["fit_epochs"] == 2

    # the same one-line errors, naming file and record, as with TensorFlow
    for name, path in corrupt.items():
        code, _, err = run_cli("data", "info", path)
        tf_free_code, tf_free_err = out[name]
        assert code == tf_free_code == 1, (name, err, tf_free_err)
        line = one_error_line(err)
        assert one_error_line(tf_free_err) == line, name
        assert line.startswith(f"error: {path}: record "), line
    assert "record 2: not a tf.train.Example (" in out["not_example"][1]
    assert "record 1: checksum mismatch" in out["payload_crc"][1]
    assert "record 2: corrupt record header" in out["length_crc"][1]

    # the sample grid's photos: the same as photo_dataset's first ones
    from painter.data import photo_dataset

    expected = np.stack([x.numpy() for x in photo_dataset(SAMPLE_ROOT, image_size=32).take(3)])
    np.testing.assert_allclose(np.load(tmp_path / "sample.npy"), expected, atol=2 / 127.5)

    if not real.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA}: its pixels were not compared")
    pixels = np.load(tmp_path / "monets.npy")
    expected = next(iter(image_dataset(real, batch_size=300))).numpy()
    np.testing.assert_array_equal(pixels, expected)  # the same decoder, the same order
