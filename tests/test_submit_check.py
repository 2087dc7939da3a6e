"""`painter check` / check_submission: what Kaggle rejects is reported, one line per problem."""

from __future__ import annotations

import hashlib
import io
import json
import warnings
import zipfile

import numpy as np
import pytest
from PIL import Image

from painter.errors import UsageError
from painter.submit.check import check_submission


def _jpeg(height=256, width=256, mode="RGB", color=(90, 120, 200)) -> bytes:
    buffer = io.BytesIO()
    fill = color if mode == "RGB" else color[0]
    Image.new(mode, (width, height), fill).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def good_jpeg() -> bytes:
    return _jpeg()


def _write_zip(path, entries):
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate names we want
        for name, data in entries:
            if name.endswith("/"):
                archive.writestr(zipfile.ZipInfo(name), b"")
            else:
                archive.writestr(name, data)
    return path


def _images(n, data):
    return [(f"{i:05d}.jpg", data) for i in range(n)]


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_good_zip_prints_count_and_exits_0(tmp_path, good_jpeg, run_cli):
    path = _write_zip(tmp_path / "images.zip", _images(7000, good_jpeg))
    code, out, err = run_cli("check", path)
    assert code == 0, err
    assert "7,000 images" in out
    assert err == ""


def test_json_prints_one_line(tmp_path, good_jpeg, run_cli):
    path = _write_zip(tmp_path / "images.zip", _images(7000, good_jpeg))
    code, out, err = run_cli("check", path, "--json")
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0]) == {"path": str(path), "ok": True, "count": 7000, "problems": []}


PNG = io.BytesIO()
Image.new("RGB", (256, 256), (1, 2, 3)).save(PNG, "PNG")


@pytest.mark.parametrize(
    "case, entries, expected",
    [
        ("6999", lambda g: _images(6999, g), "6,999 images; Kaggle takes 7,000 to 10,000"),
        ("10001", lambda g: _images(10001, g), "10,001 images; Kaggle takes 7,000 to 10,000"),
        ("png", lambda g: _images(6999, g) + [("x.jpg", PNG.getvalue())], "x.jpg: a PNG image, not a JPEG"),
        ("255x256", lambda g: _images(6999, g) + [("x.jpg", _jpeg(255, 256))],
         "x.jpg: decodes to 255×256×3 (RGB), not 256×256×3 RGB"),
        ("folder", lambda g: [("sub/", b"")] + _images(7000, g),
         "sub/: a folder entry; images must be at the top level"),
        ("duplicate", lambda g: _images(7000, g) + [("00007.jpg", g)], "00007.jpg: duplicate name"),
    ],
)
def test_bad_zip_one_line_per_problem(tmp_path, good_jpeg, run_cli, case, entries, expected):
    path = _write_zip(tmp_path / "images.zip", entries(good_jpeg))
    before = _digest(path)
    code, out, err = run_cli("check", path)
    assert code == 1
    assert err.splitlines() == [f"error: {path}: {expected}"]
    assert out == ""
    assert _digest(path) == before  # the check never touches the zip


def test_every_problem_is_listed(tmp_path, good_jpeg):
    gray = _jpeg(mode="L")
    truncated = good_jpeg[: len(good_jpeg) // 2]
    entries = [
        ("a.jpg", good_jpeg),
        ("dir/", b""),
        ("dir/b.jpg", good_jpeg),
        ("a.jpg", good_jpeg),
        ("c.png", PNG.getvalue()),
        ("d.jpg", gray),
        ("e.jpg", truncated),
        ("f.jpg", b"not an image"),
    ]
    path = _write_zip(tmp_path / "images.zip", entries)
    result = check_submission(path, min_images=1)
    assert not result.ok
    assert result.count == 7  # the folder entry is not an image
    problems = "\n".join(result.problems)
    assert "dir/: a folder entry" in problems
    assert "dir/b.jpg: inside a folder" in problems
    assert "a.jpg: duplicate name" in problems
    assert "c.png: name does not end in .jpg or .jpeg" in problems
    assert "c.png: a PNG image, not a JPEG" in problems
    assert "d.jpg: decodes to 256×256×1 (L), not 256×256×3 RGB" in problems
    assert "e.jpg: not a readable image" in problems
    assert "f.jpg: not a readable image" in problems
    assert len(result.problems) == 8
    assert all("\n" not in p for p in result.problems)


def test_json_with_problems_still_fails(tmp_path, good_jpeg, run_cli):
    path = _write_zip(tmp_path / "images.zip", _images(3, good_jpeg))
    code, out, err = run_cli("check", path, "--json")
    assert code == 1
    report = json.loads(out)
    assert report["ok"] is False and report["count"] == 3
    assert err.strip() == f"error: {path}: 3 images; Kaggle takes 7,000 to 10,000"


def test_missing_file_and_not_a_zip(tmp_path, run_cli):
    code, out, err = run_cli("check", tmp_path / "nope.zip")
    assert code == 2
    assert err.strip() == f"error: {tmp_path / 'nope.zip'}: no such file"
    with pytest.raises(UsageError):
        check_submission(tmp_path)
    text = tmp_path / "images.zip"
    text.write_text("hello")
    code, out, err = run_cli("check", text)
    assert code == 1
    assert err.strip() == f"error: {text}: not a zip file"


def test_random_content_jpegs_pass(tmp_path):
    rng = np.random.default_rng(0)
    entries = []
    for i in range(5):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(buffer, "JPEG")
        entries.append((f"{i}.jpeg", buffer.getvalue()))
    result = check_submission(_write_zip(tmp_path / "images.zip", entries), min_images=5, max_images=5)
    assert result.ok, result.problems
    assert result.count == 5
