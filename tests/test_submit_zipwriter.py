"""ImageZipWriter: streamed, atomic, unique, stored JPEGs; variants never byte-identical."""

from __future__ import annotations

import hashlib
import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from painter.errors import UsageError
from painter.submit import zipwriter
from painter.submit.variants import photo_variant, unique_stems, variant_name, variant_plan
from painter.submit.zipwriter import ImageZipWriter, to_uint8


def _images(n, seed=0):
    rng = np.random.default_rng(seed)
    # Smooth random images: JPEG keeps them close, so content can be compared.
    small = rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)
    return np.stack([np.asarray(Image.fromarray(s).resize((256, 256), Image.BILINEAR)) for s in small])


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_writes_stored_jpegs_in_order(tmp_path):
    images = _images(12)
    out = tmp_path / "images.zip"
    with ImageZipWriter(out, quality=95, workers=2, queue_size=3) as writer:
        writer.add_batch([f"{i:02d}.jpg" for i in range(12)], images)
    assert writer.written == 12
    with zipfile.ZipFile(out) as archive:
        infos = archive.infolist()
        assert [i.filename for i in infos] == [f"{i:02d}.jpg" for i in range(12)]
        assert {i.compress_type for i in infos} == {zipfile.ZIP_STORED}
        for info, image in zip(infos, images):
            decoded = Image.open(io.BytesIO(archive.read(info)))
            assert decoded.format == "JPEG" and decoded.mode == "RGB" and decoded.size == (256, 256)
            error = np.abs(np.asarray(decoded, np.float32) - image).mean()
            assert error < 3, f"{info.filename}: mean abs error {error}"
    assert out.stat().st_mode & 0o044  # readable like any file the user writes, not 0600
    assert _leftovers(tmp_path) == []


def test_float_images_are_mapped_from_minus_one_one():
    images = np.array([-1.0, 0.0, 1.0, 2.0, -3.0], np.float32)
    assert to_uint8(images).tolist() == [0, 128, 255, 255, 0]


def test_bad_names_and_shapes(tmp_path):
    with ImageZipWriter(tmp_path / "images.zip") as writer:
        writer.add("a.jpg", _images(1)[0])
        with pytest.raises(ValueError, match="already in the zip"):
            writer.add("a.jpg", _images(1)[0])
        with pytest.raises(ValueError, match="shape"):
            writer.add("b.jpg", np.zeros((255, 256, 3), np.uint8))
        with pytest.raises(ValueError, match="plain file name"):
            writer.add("dir/", _images(1)[0])
    assert writer.written == 1


def test_byte_identical_images_are_dropped_and_counted(tmp_path):
    image = _images(1)[0]
    with ImageZipWriter(tmp_path / "images.zip") as writer:
        writer.add("a.jpg", image)
        writer.add("b.jpg", image.copy())
        writer.add("c.jpg", image[:, ::-1])
    assert writer.written == 2
    assert writer.skipped_duplicates == ["b.jpg"]
    with zipfile.ZipFile(tmp_path / "images.zip") as archive:
        assert archive.namelist() == ["a.jpg", "c.jpg"]


def test_existing_output_needs_force(tmp_path):
    out = tmp_path / "images.zip"
    out.write_bytes(b"keep me")
    with pytest.raises(UsageError, match="exists; pass --force"):
        ImageZipWriter(out)
    assert out.read_bytes() == b"keep me"
    with ImageZipWriter(out, force=True) as writer:
        writer.add("a.jpg", _images(1)[0])
    assert zipfile.is_zipfile(out)


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_interrupted_writing_leaves_nothing(tmp_path, error):
    out = tmp_path / "images.zip"
    with pytest.raises(error):
        with ImageZipWriter(out) as writer:
            writer.add_batch(["a.jpg", "b.jpg"], _images(2))
            writer.flush()
            raise error()
    assert not out.exists()
    assert _leftovers(tmp_path) == []


def test_interrupted_writing_keeps_an_existing_zip(tmp_path):
    out = tmp_path / "images.zip"
    out.write_bytes(b"old submission")
    with pytest.raises(KeyboardInterrupt):
        with ImageZipWriter(out, force=True) as writer:
            writer.add("a.jpg", _images(1)[0])
            raise KeyboardInterrupt
    assert out.read_bytes() == b"old submission"
    assert _leftovers(tmp_path) == []


def test_encoder_failure_reaches_the_caller(tmp_path, monkeypatch):
    def broken(image, quality):
        raise OSError("disk full")

    monkeypatch.setattr(zipwriter, "encode_jpeg", broken)
    out = tmp_path / "images.zip"
    with pytest.raises(OSError, match="disk full"):
        with ImageZipWriter(out, queue_size=1) as writer:
            for i, image in enumerate(_images(5)):
                writer.add(f"{i}.jpg", image)
    assert not out.exists()
    assert _leftovers(tmp_path) == []


# -- variants ---------------------------------------------------------------------------


def test_variants_are_documented_transforms():
    image = _images(1)[0]
    assert photo_variant(image, 0) is image
    np.testing.assert_array_equal(photo_variant(image, 1), image[:, ::-1])
    crop = photo_variant(image, 2, seed=3, key=5)
    assert crop.shape == image.shape and crop.dtype == np.uint8
    np.testing.assert_array_equal(crop, photo_variant(image, 2, seed=3, key=5))  # seeded
    assert not np.array_equal(crop, photo_variant(image, 2, seed=4, key=5))
    assert not np.array_equal(crop, photo_variant(image, 2, seed=3, key=6))
    # Odd passes ≥ 3 are flipped crops, even ones are not: a crop drawn with pass 3's seed
    # but unflipped is pass 3 flipped back.
    three = photo_variant(image, 3, seed=3, key=5)
    rng = np.random.default_rng([3, 5, 3])
    side = int(round(rng.uniform(0.75, 0.95) * 256))
    top, left = int(rng.integers(0, 256 - side + 1)), int(rng.integers(0, 256 - side + 1))
    unflipped = np.asarray(
        Image.fromarray(image).resize((256, 256), Image.BILINEAR, box=(left, top, left + side, top + side))
    )
    np.testing.assert_array_equal(three[:, ::-1], unflipped)
    with pytest.raises(ValueError, match="variant must be"):
        photo_variant(image, -1)


def test_variant_plan_and_names():
    plan = list(zip(range(7), variant_plan(3)))
    assert [pair for _, pair in plan] == [(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 1), (0, 2)]
    assert variant_name("abc.jpg", 0) == "abc.jpg"
    assert variant_name("abc", 12) == "abc_v012.jpg"
    assert unique_stems(["a.jpg", "b.png", "a.jpeg", "a"]) == ["a.jpg", "b.jpg", "a_2.jpg", "a_3.jpg"]


def test_many_variants_of_few_photos_are_distinct():
    photos = _images(2, seed=1)
    digests = set()
    for _, (index, variant) in zip(range(300), variant_plan(2)):
        out = photo_variant(photos[index], variant, key=index)
        digests.add(hashlib.sha1(out.tobytes()).hexdigest())
    assert len(digests) == 300
