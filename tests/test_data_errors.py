"""Bad input through the CLI: one `error:` line naming the file (and record), the exit
status, and nothing existing replaced."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image


def _feature(value: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def write_records(path: Path, records: list[dict[str, bytes]]) -> list[int]:
    """Writes tf.train.Examples; returns each record's byte offset in the file."""
    offsets, offset = [], 0
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            payload = tf.train.Example(features=tf.train.Features(
                feature={k: _feature(v) for k, v in record.items()})).SerializeToString()
            writer.write(payload)
            offsets.append(offset)
            offset += 8 + 4 + len(payload) + 4  # length, its CRC, payload, payload CRC
    assert offset == path.stat().st_size
    return offsets


def kaggle_records(sample_dir: Path, count: int = 4) -> list[dict[str, bytes]]:
    paths = sorted((sample_dir / "monet_jpg").glob("*.jpg"))[:count]
    return [{"image_name": p.stem.encode(), "image": p.read_bytes(), "target": b"monet"}
            for p in paths]


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def good_tfrec(tmp_path, sample_dir) -> tuple[Path, list[int]]:
    path = tmp_path / "monet00-4.tfrec"
    return path, write_records(path, kaggle_records(sample_dir))


def test_missing_path(run_cli, tmp_path, one_error_line):
    missing = tmp_path / "nope"
    code, out, err = run_cli("data", "info", missing)
    assert code == 2
    assert one_error_line(err) == f"error: {missing}: no such file or directory"


def test_missing_domain_in_kaggle_root(run_cli, sample_dir, tmp_path, one_error_line):
    code, _, err = run_cli("data", "to-tfrecord", sample_dir, tmp_path / "out",
                           "--prefix", "x", "--domain", "horse")
    assert code == 2
    assert "horse_tfrec/ or horse_jpg/" in one_error_line(err)
    assert not (tmp_path / "out").exists()


def test_empty_folder(run_cli, tmp_path, one_error_line):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / ".hidden").write_text("ignored")
    code, _, err = run_cli("data", "info", empty)
    assert code == 1
    assert one_error_line(err) == f"error: {empty}: empty folder (no .tfrec or image files)"


def test_truncated_tfrecord(run_cli, good_tfrec, tmp_path, one_error_line):
    path, offsets = good_tfrec
    data = path.read_bytes()
    path.write_bytes(data[: offsets[2] + 40])  # inside record 2's payload
    code, out, err = run_cli("data", "info", path)
    assert code == 1
    line = one_error_line(err)
    assert line.startswith(f"error: {path}: record 2: truncated")
    assert "images     2 of 256x256x3" in out  # records 0 and 1 are still counted


def test_truncated_inside_header_at_end(run_cli, good_tfrec, one_error_line):
    # TensorFlow's reader stops quietly here; the Python check must not.
    path, offsets = good_tfrec
    path.write_bytes(path.read_bytes()[: offsets[3] + 5])
    code, _, err = run_cli("data", "info", path)
    assert code == 1
    assert one_error_line(err).startswith(f"error: {path}: record 3: truncated: the file ends "
                                          "inside the record header")


def test_flipped_bytes_named_and_skip_bad_goes_on(run_cli, good_tfrec, tmp_path, one_error_line):
    path, offsets = good_tfrec
    data = bytearray(path.read_bytes())
    data[offsets[1] + 500] ^= 0xFF  # inside record 1's JPEG bytes
    path.write_bytes(bytes(data))
    code, _, err = run_cli("data", "info", path)
    assert code == 1
    assert one_error_line(err).startswith(f"error: {path}: record 1: checksum mismatch")

    # --skip-bad: records 2 and 3 (after the bad one) are read, the bad one is counted.
    out_dir = tmp_path / "out"
    code, out, err = run_cli("data", "to-tfrecord", path, out_dir, "--prefix", "monet",
                             "--skip-bad")
    assert code == 0, err
    assert "wrote 3 images" in out and "1 bad skipped" in out
    assert f"skipped: {path}: record 1: checksum mismatch" in err
    assert [p.name for p in out_dir.iterdir()] == ["monet00-3.tfrec"]


def test_corrupt_length_stops_the_file(run_cli, good_tfrec):
    path, offsets = good_tfrec
    data = bytearray(path.read_bytes())
    data[offsets[2] + 1] ^= 0x01  # record 2's length: where record 3 starts is lost
    path.write_bytes(bytes(data))
    code, out, err = run_cli("data", "info", "--skip-bad", path)
    assert code == 0
    assert f"{path}: record 2: corrupt record header" in out
    assert "images     2 of" in out and "bad        1" in out


def test_record_without_image(run_cli, tmp_path, sample_dir, one_error_line):
    records = kaggle_records(sample_dir, 3)
    del records[1]["image"]
    path = tmp_path / "noimage.tfrec"
    write_records(path, records)
    code, _, err = run_cli("data", "info", path)
    assert code == 1
    assert one_error_line(err) == (
        f"error: {path}: record 1: no 'image' feature (has: image_name, target)")


def test_record_image_not_jpeg(run_cli, tmp_path, sample_dir, one_error_line):
    records = kaggle_records(sample_dir, 3)
    records[2]["image"] = png_bytes()
    path = tmp_path / "png.tfrec"
    write_records(path, records)
    code, _, err = run_cli("data", "info", path)
    assert code == 1
    assert one_error_line(err).startswith(f"error: {path}: record 2: 'image' is not a JPEG image")


def _image_folder(tmp_path, sample_dir, count=3) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for p in sorted((sample_dir / "photo_jpg").glob("*.jpg"))[:count]:
        shutil.copy(p, folder / p.name)
    return folder


def test_truncated_jpeg(run_cli, tmp_path, sample_dir, one_error_line):
    folder = _image_folder(tmp_path, sample_dir)
    bad = folder / "zz_truncated.jpg"
    data = next(folder.glob("*.jpg")).read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    code, _, err = run_cli("data", "info", folder)
    assert code == 1
    assert one_error_line(err).startswith(f"error: {bad}: truncated or corrupt JPEG")


def test_non_image_file_in_folder(run_cli, tmp_path, sample_dir, one_error_line):
    folder = _image_folder(tmp_path, sample_dir)
    (folder / "notes.txt").write_text("not an image")
    code, _, err = run_cli("data", "info", folder)
    assert code == 1
    assert one_error_line(err) == (
        f"error: {folder / 'notes.txt'}: not a JPEG or PNG image (starts with b'not an i')")


def test_skip_bad_counts_every_bad_entry(run_cli, tmp_path, sample_dir, one_error_line):
    folder = _image_folder(tmp_path, sample_dir, count=3)
    (folder / "a.txt").write_text("x")
    (folder / "b.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut")
    code, out, err = run_cli("data", "info", folder)
    assert code == 1
    assert "(and 1 more bad entries, listed above)" in one_error_line(err)
    assert "bad        2" in out and f"{folder / 'a.txt'}:" in out and f"{folder / 'b.jpg'}:" in out

    code, out, _ = run_cli("data", "info", "--skip-bad", "--json", folder)
    assert code == 0
    import json

    (entry,) = json.loads(out)
    assert entry["images"] == 3 and len(entry["bad"]) == 2


def test_bad_zip(run_cli, tmp_path, one_error_line):
    path = tmp_path / "images.zip"
    path.write_bytes(b"PK\x03\x04 but not really a zip")
    code, _, err = run_cli("data", "info", path)
    assert code == 1
    assert one_error_line(err).startswith(f"error: {path}: not a readable zip file")


def test_existing_output_is_not_replaced(run_cli, tmp_path, sample_dir, one_error_line):
    folder = _image_folder(tmp_path, sample_dir)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    existing = out_dir / "photo00-7.tfrec"
    existing.write_bytes(b"keep me")
    code, _, err = run_cli("data", "to-tfrecord", folder, out_dir, "--prefix", "photo")
    assert code == 2
    assert one_error_line(err) == f"error: {existing} exists; pass --force to replace it"
    assert existing.read_bytes() == b"keep me"

    # --force with bad data: still nothing replaced, no temporary file left.
    (folder / "notes.txt").write_text("x")
    code, _, err = run_cli("data", "to-tfrecord", folder, out_dir, "--prefix", "photo", "--force")
    assert code == 1
    assert f"{folder / 'notes.txt'}" in one_error_line(err)
    assert sorted(p.name for p in out_dir.iterdir()) == ["photo00-7.tfrec"]
    assert existing.read_bytes() == b"keep me"

    # --force with good data replaces it.
    (folder / "notes.txt").unlink()
    code, out, err = run_cli("data", "to-tfrecord", folder, out_dir, "--prefix", "photo", "--force")
    assert code == 0, err
    assert sorted(p.name for p in out_dir.iterdir()) == ["photo00-3.tfrec"]


def test_bad_prefix_is_usage_error(run_cli, tmp_path, sample_dir, one_error_line):
    code, _, err = run_cli("data", "to-tfrecord", _image_folder(tmp_path, sample_dir),
                           tmp_path / "out", "--prefix", "../up")
    assert code == 2
    assert one_error_line(err) == "error: bad prefix '../up': use letters, digits, _ . -"
    assert not (tmp_path / "out").exists()
