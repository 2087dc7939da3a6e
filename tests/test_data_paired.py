"""Paired data (pix2pix): the three layouts read to the same pairs, the jitter acts on both
images of a pair alike, and bad paired data is one `error:` line naming the file."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from painter.data.paired import (
    PAIRED_SAMPLE_ROOT,
    iter_pairs,
    paired_dataset,
    resolve_paired,
    scan_pairs,
    write_paired_tfrecords,
)
from painter.errors import DataError, UsageError


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def _random_pairs(n: int = 3, size: int = 16, seed: int = 0) -> dict[str, tuple]:
    rng = np.random.default_rng(seed)
    return {f"p{i}": (rng.integers(0, 256, (size, size, 3), dtype=np.uint8),
                      rng.integers(0, 256, (size, size, 3), dtype=np.uint8)) for i in range(n)}


def _write_folders(root: Path, pairs: dict) -> Path:
    for side, index in (("A", 0), ("B", 1)):
        (root / side).mkdir(parents=True)
        for name, images in pairs.items():
            (root / side / f"{name}.png").write_bytes(_png(images[index]))
    return root


def _write_side_by_side(root: Path, pairs: dict) -> Path:
    root.mkdir(parents=True)
    for name, (a, b) in pairs.items():
        (root / f"{name}.png").write_bytes(_png(np.concatenate([a, b], axis=1)))
    return root


def _dataset_arrays(root, **kwargs) -> list[tuple[np.ndarray, np.ndarray]]:
    dataset, _ = paired_dataset(root, batch_size=1, image_size=16, augment=False,
                                shuffle=False, repeat=False, **kwargs)
    return [(a.numpy()[0], b.numpy()[0]) for a, b in dataset]


def test_side_by_side_folders_and_tfrecords_read_to_the_same_pairs(tmp_path):
    pairs = _random_pairs()
    folders = _write_folders(tmp_path / "folders", pairs)
    side = _write_side_by_side(tmp_path / "side", pairs)
    from_side = write_paired_tfrecords(side, tmp_path / "tfrec_side", "pairs", per_file=2)
    from_folders = write_paired_tfrecords(folders, tmp_path / "tfrec_folders", "pairs")
    assert [p.name for p in from_side.files] == ["pairs00-2.tfrec", "pairs01-1.tfrec"]
    assert (from_side.images, from_side.reencoded) == (3, 3)  # halves split, stored as PNG
    assert (from_folders.images, from_folders.reencoded) == (3, 0)  # bytes kept

    layouts = {"folders": folders, "side_by_side": side,
               "tfrecord": tmp_path / "tfrec_side"}
    expected = [(name, a, b) for name, (a, b) in sorted(pairs.items())]
    for layout, root in layouts.items():
        assert resolve_paired(root).layout == layout
        read = list(iter_pairs(root))
        assert [name for name, _, _ in read] == [name for name, _, _ in expected]
        for (_, a, b), (_, ea, eb) in zip(read, expected):
            np.testing.assert_array_equal(a, ea, err_msg=layout)
            np.testing.assert_array_equal(b, eb, err_msg=layout)
        # The tf.data pipeline decodes the same pixels, in [-1, 1].
        for (a, b), (_, ea, eb) in zip(_dataset_arrays(root), expected):
            np.testing.assert_allclose(a, ea / 127.5 - 1.0, atol=1e-6, err_msg=layout)
            np.testing.assert_allclose(b, eb / 127.5 - 1.0, atol=1e-6, err_msg=layout)
    # BtoA swaps input and target.
    (a, b), = _dataset_arrays(tmp_path / "tfrec_folders", direction="BtoA")[:1]
    np.testing.assert_allclose(a, expected[0][2] / 127.5 - 1.0, atol=1e-6)
    assert next(iter_pairs(folders, "BtoA"))[1].tolist() == expected[0][2].tolist()


def test_jitter_and_mirroring_are_the_same_on_both_images(tmp_path):
    """A pair whose B is A itself stays identical through the augmentation, which does
    change the images."""
    rng = np.random.default_rng(3)
    same = {f"s{i}": (image, image) for i, image in
            enumerate(rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8))}
    root = _write_folders(tmp_path / "same", same)
    dataset, steps = paired_dataset(root, batch_size=2, image_size=32, augment=True, seed=5)
    assert steps == 2
    plain = {tuple(a.ravel()[:8]) for a in _dataset_arrays_32(root)}
    changed = 0
    for a, b in dataset.take(8):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        changed += sum(tuple(x.ravel()[:8]) not in plain for x in a.numpy())
    assert changed > 0


def _dataset_arrays_32(root):
    dataset, _ = paired_dataset(root, batch_size=1, image_size=32, augment=False,
                                shuffle=False, repeat=False)
    return [a.numpy()[0] for a, _ in dataset]


def test_the_embedded_paired_sample_has_16_real_pairs():
    scan = scan_pairs(PAIRED_SAMPLE_ROOT)
    assert scan.source.layout == "side_by_side"
    assert (scan.count, scan.sizes) == (16, frozenset({(256, 256)}))
    name, photo, toned = next(iter_pairs(PAIRED_SAMPLE_ROOT))
    # B is A colour-matched: same scene (correlated), different colours.
    assert np.corrcoef(photo.mean(-1).ravel(), toned.mean(-1).ravel())[0, 1] > 0.8
    assert np.abs(photo.astype(int) - toned).mean() > 5


# ---- bad paired data -----------------------------------------------------------------


def _bad_layouts(tmp_path) -> dict[str, tuple[Path, str]]:
    """{case: (data root, the file the error must name)}."""
    pairs = _random_pairs(2)
    unpaired = _write_folders(tmp_path / "unpaired", pairs)
    (unpaired / "B" / "p1.png").unlink()
    sizes = _write_folders(tmp_path / "sizes", pairs)
    (sizes / "B" / "p0.png").write_bytes(_png(np.zeros((20, 16, 3), np.uint8)))
    odd = _write_side_by_side(tmp_path / "odd", pairs)
    (odd / "p1.png").write_bytes(_png(np.zeros((16, 33, 3), np.uint8)))
    wide = _write_side_by_side(tmp_path / "wide", pairs)
    (wide / "p0.png").write_bytes(_png(np.zeros((16, 48, 3), np.uint8)))
    return {
        "unpaired name": (unpaired, str(unpaired / "A" / "p1.png")),
        "size mismatch": (sizes, str(sizes / "B" / "p0.png")),
        "odd width": (odd, str(odd / "p1.png")),
        "width not twice the height": (wide, str(wide / "p0.png")),
    }


def test_bad_paired_data_raises_one_data_error_naming_the_file(tmp_path):
    for case, (root, culprit) in _bad_layouts(tmp_path).items():
        with pytest.raises(DataError, match=culprit) as error:
            scan_pairs(root)
        assert "\n" not in str(error.value), case
    with pytest.raises(UsageError, match="unpaired domains"):
        resolve_paired(PAIRED_SAMPLE_ROOT.parent / "sample")


def test_bad_paired_data_is_one_error_line_from_the_cli(tmp_path, run_cli, one_error_line):
    for case, (root, culprit) in _bad_layouts(tmp_path).items():
        out = tmp_path / f"run_{case.replace(' ', '_')}"
        code, _, err = run_cli("train", "pix2pix_quick", "--data", root, "--out", out,
                               "--set", "image_size=32")
        assert code == 1, case
        assert culprit in one_error_line(err), case
        assert not out.exists(), case  # nothing written before the data is checked
    root, culprit = _bad_layouts(tmp_path / "again")["odd width"]
    code, _, err = run_cli("data", "to-tfrecord", root, tmp_path / "records", "--paired",
                           "--prefix", "pairs")
    assert code == 1 and culprit in one_error_line(err)
    assert not (tmp_path / "records").exists()


def test_to_tfrecord_paired_from_the_cli(tmp_path, run_cli):
    root = _write_side_by_side(tmp_path / "side", _random_pairs(2))
    code, out, _ = run_cli("data", "to-tfrecord", root, tmp_path / "records", "--paired",
                           "--prefix", "pairs")
    assert code == 0, out
    assert "wrote 2 pairs" in out
    assert [name for name, _, _ in iter_pairs(tmp_path / "records")] == ["p0", "p1"]
    code, _, err = run_cli("data", "to-tfrecord", root, tmp_path / "records", "--paired",
                           "--prefix", "pairs")
    assert code == 2 and "--force" in err  # never overwritten without --force
