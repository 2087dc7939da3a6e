"""TFRecords in Kaggle's format: reading, writing byte-identical, re-encoding odd images,
and the real competition data."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from painter.data import (
    decode_rgb,
    data_info,
    iter_checked_images,
    iter_encoded_images,
    resolve_source,
    write_tfrecords,
)
from painter.data.tfrecord import _frames_python, crc32c, iter_tfrecord_payloads
from painter.errors import DataError, UsageError


def read_examples(path: Path) -> list[dict[str, bytes]]:
    """Records parsed with TensorFlow's own Example parser (not painter's)."""
    records = []
    for raw in tf.data.TFRecordDataset(str(path)):
        feature = tf.train.Example.FromString(raw.numpy()).features.feature
        records.append({k: v.bytes_list.value[0] for k, v in feature.items()})
    return records


def test_crc32c_known_value():
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value


def test_python_frames_match_tensorflow(tmp_path, sample_dir):
    result = write_tfrecords((sample_dir, "monet"), tmp_path, "monet", per_file=5)
    path = result.files[0]
    python = [item for _, item, _ in _frames_python(path, 0, 0, path.stat().st_size)]
    assert python == [r.numpy() for r in tf.data.TFRecordDataset(str(path))]
    assert [i for i, _ in iter_tfrecord_payloads(path)] == list(range(5))


def test_write_kaggle_format_and_read_back_byte_identical(tmp_path, sample_dir):
    photos = sorted((sample_dir / "photo_jpg").glob("*.jpg"))
    result = write_tfrecords(sample_dir / "photo_jpg", tmp_path / "out", "photo", per_file=10)
    names = [p.name for p in result.files]
    assert names == ["photo00-10.tfrec", "photo01-10.tfrec", "photo02-10.tfrec", "photo03-2.tfrec"]
    assert result.images == 32 and result.reencoded == 0 and result.skipped == []
    records = [r for path in result.files for r in read_examples(path)]
    assert [r["image_name"].decode() for r in records] == [p.stem for p in photos]
    assert all(r["target"] == b"photo" for r in records)
    assert [r["image"] for r in records] == [p.read_bytes() for p in photos]
    # painter's reader agrees, with origins naming file and record
    images = list(iter_encoded_images(tmp_path / "out"))
    assert [i.data for i in images] == [p.read_bytes() for p in photos]
    assert images[11].origin == f"{tmp_path / 'out' / 'photo01-10.tfrec'}#1"
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]
    assert oct(result.files[0].stat().st_mode & 0o777) != "0o600"


def _odd_images(folder: Path, sample_dir: Path) -> dict[str, bytes]:
    """A gray JPEG, a CMYK JPEG, an RGBA PNG, a 300×200 JPEG and a plain 256² RGB JPEG."""
    folder.mkdir()
    rgb_path = sorted((sample_dir / "monet_jpg").glob("*.jpg"))[0]
    base = Image.open(rgb_path).convert("RGB")

    def save(name, image, fmt):
        buffer = io.BytesIO()
        image.save(buffer, format=fmt)
        (folder / name).write_bytes(buffer.getvalue())

    save("gray.jpg", base.convert("L"), "JPEG")
    save("cmyk.jpg", base.convert("CMYK"), "JPEG")
    rgba = base.convert("RGBA")
    rgba.putalpha(128)
    save("rgba.png", rgba, "PNG")
    save("wide.jpg", base.resize((300, 200)), "JPEG")
    shutil.copy(rgb_path, folder / "plain.jpg")
    return {p.stem: p.read_bytes() for p in folder.iterdir()}


def test_odd_images_converted_counted_and_reencoded(tmp_path, sample_dir, run_cli):
    folder = tmp_path / "odd"
    originals = _odd_images(folder, sample_dir)
    (entry,) = data_info([folder])
    assert entry["images"] == 5
    assert entry["modes"] == {"RGB": 2, "L": 1, "CMYK": 1, "RGBA": 1}
    assert entry["shapes"]["200x300x3"] == 1
    assert (entry["resized"], entry["converted"], entry["reencoded"]) == (1, 3, 4)

    code, out, err = run_cli("data", "to-tfrecord", folder, tmp_path / "out", "--prefix", "x")
    assert code == 0, err
    assert "wrote 5 images to 1 file" in out and "4 re-encoded" in out
    records = {r["image_name"].decode(): r["image"]
               for r in read_examples(tmp_path / "out" / "x00-5.tfrec")}
    assert records["plain"] == originals["plain"]  # kept as it was
    for name, data in records.items():
        image = Image.open(io.BytesIO(data))
        assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (256, 256)), name
    gray = decode_rgb(records["gray"], "gray")
    assert np.abs(gray[..., 0].astype(int) - gray[..., 2].astype(int)).max() <= 8  # stays gray

    # the pipeline reads the same folder: all RGB, resized, in range
    from painter.data import image_dataset

    images = [x.numpy() for x in image_dataset(folder)]  # sorted: cmyk gray plain rgba wide
    assert len(images) == 5 and {x.shape for x in images} == {(256, 256, 3)}
    assert all(x.min() >= -1 and x.max() <= 1 for x in images)
    np.testing.assert_array_equal(images[1][..., 0], images[1][..., 2])  # gray stays gray
    plain = decode_rgb(originals["plain"], "plain").astype(np.float32) / 127.5 - 1
    for index in (0, 3):  # CMYK and RGBA (alpha dropped) decode to about the plain pixels
        assert np.abs(images[index] - plain).mean() < 0.05


def test_decode_rgb_conversions_and_errors(tmp_path, sample_dir):
    originals = _odd_images(tmp_path / "odd", sample_dir)
    for name, data in originals.items():
        image = decode_rgb(data, name, image_size=64)
        assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    assert decode_rgb(originals["wide"], "wide").shape == (200, 300, 3)
    with pytest.raises(DataError, match=r"^somewhere#3: not a readable JPEG/PNG image"):
        decode_rgb(originals["plain"][:2000], "somewhere#3")
    with pytest.raises(ValueError, match="Received: image_size=0"):
        decode_rgb(originals["plain"], "x", image_size=0)


def test_zip_source(tmp_path, sample_dir):
    import zipfile

    photos = sorted((sample_dir / "photo_jpg").glob("*.jpg"))[:3]
    path = tmp_path / "images.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for p in photos:
            archive.write(p, p.name)
        archive.writestr("__MACOSX/._junk", b"junk")
    images = list(iter_encoded_images(path))
    assert [i.name for i in images] == [p.stem for p in photos]
    assert images[0].origin == f"{path}:{photos[0].name}"
    assert [i.data for i in images] == [p.read_bytes() for p in photos]
    from painter.data import image_dataset

    assert [x.shape for x in image_dataset(path, image_size=32)] == [(32, 32, 3)] * 3


def test_sources_forms(tmp_path, sample_dir):
    root = resolve_source((sample_dir, "monet"))
    assert root.kind == "images" and len(root.files) == 32
    assert resolve_source(sample_dir, domain="photo").files == resolve_source(
        sample_dir / "photo_jpg").files
    glob = resolve_source(str(sample_dir / "monet_jpg" / "0*.jpg"))
    assert glob.kind == "images" and 0 < len(glob.files) < 32
    with pytest.raises(UsageError, match="Kaggle-layout root holding monet, photo"):
        resolve_source(sample_dir)
    with pytest.raises(UsageError, match="no files match"):
        resolve_source(str(tmp_path / "*.tfrec"))
    write_tfrecords((sample_dir, "monet"), tmp_path / "root" / "monet_tfrec", "monet", per_file=20)
    # a Kaggle root prefers {domain}_tfrec/ over {domain}_jpg/
    assert resolve_source((tmp_path / "root", "monet")).kind == "tfrecord"


# ---- real data ------------------------------------------------------------------------


def test_real_monet_tfrecords(shared_data):
    files = sorted((shared_data / "monet_tfrec").glob("*.tfrec"))
    assert len(files) == 5
    seen = list(iter_checked_images(shared_data / "monet_tfrec"))
    assert len(seen) == 300
    assert len({image.name for image, _ in seen}) == 300
    assert {header.shape for _, header in seen} == {"256x256x3"}
    assert {(header.format, header.mode) for _, header in seen} == {("JPEG", "RGB")}
    # headers do not lie: decode a few in full
    for image, _ in seen[::60]:
        assert tf.io.decode_jpeg(image.data).shape == (256, 256, 3)


def test_real_data_info_cli(shared_data, run_cli):
    code, out, err = run_cli("data", "info", shared_data / "monet_tfrec")
    assert code == 0, err
    assert "(tfrecord, 5 files)" in out
    assert "images     300 of 256x256x3 (300 unique names" in out
    assert "bad        0" in out


def test_real_photos_to_tfrecord_and_back(shared_data, tmp_path, run_cli):
    # A subset (300 of the 6,000 photos, linked into tmp) keeps the test fast.
    subset = tmp_path / "photo_jpg"
    subset.mkdir()
    photos = sorted((shared_data / "photo_jpg").glob("*.jpg"))[::20]
    assert len(photos) == 300
    for p in photos:
        os.symlink(p, subset / p.name)
    code, out, err = run_cli("data", "to-tfrecord", subset, tmp_path / "out",
                             "--prefix", "photo", "--per-file", "128")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "photo00-128.tfrec", "photo01-128.tfrec", "photo02-44.tfrec"]
    back = {i.name: i.data for i in iter_encoded_images(tmp_path / "out")}
    assert len(back) == 300
    assert back == {p.stem: p.read_bytes() for p in photos}
