"""`painter generate` and `painter baseline`: counts, variants, bad inputs, interruption.

One tiny CycleGAN run (32 px, 1 step) is trained per module. The full 7,000-image path
through the CLI (train → generate → check) runs in test_kaggle_kernel.py; here the
writing loop gets small counts through the library, and the CLI gets everything that
must fail before writing.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import zipfile

import numpy as np
import pytest
from PIL import Image

from painter.config import NoiseGANConfig
from painter.errors import DataError
from painter import inference
from painter.submit import generate as gen
from painter.submit.baselines import ColorStats, color_stats, lab_to_rgb, match_colors, rgb_to_lab

def _entries(path):
    with zipfile.ZipFile(path) as archive:
        return [(info.filename, archive.read(info)) for info in archive.infolist()]


def _no_partial_files(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".") or p.suffix == ".tmp"] == []


# -- the writing loop, small counts ------------------------------------------------------


def test_cyclegan_translations_of_photos_then_variants(tiny_run, sample_dir, tmp_path):
    from painter.train.checkpoints import load_generator

    config, model = load_generator(tiny_run)
    photos = gen.read_photos((str(sample_dir), "photo"))
    out = tmp_path / "images.zip"
    result = gen.write_submission(
        out, gen.photo_inputs(photos), 80, inference.photo_translator(model, config.image_size), batch=16
    )
    entries = _entries(out)
    assert result.count == len(entries) == 80
    assert result.variants == 80 - 32
    names = [name for name, _ in entries]
    assert len(set(names)) == 80
    assert names[:32] == [f"{p.name}.jpg" for p in photos]
    assert names[32] == f"{photos[0].name}_v001.jpg"  # pass 1: every photo flipped
    assert len({hashlib.sha1(data).digest() for _, data in entries}) == 80
    for _, data in entries[:3]:
        image = Image.open(io.BytesIO(data))
        assert image.format == "JPEG" and image.mode == "RGB" and image.size == (256, 256)


def test_byte_identical_outputs_are_replaced_by_further_variants(tmp_path):
    # A blank photo: flipped it is itself, so the writer drops it and the loop draws more.
    blank = np.full((256, 256, 3), 128, np.uint8)
    photos = [("blank.jpg", blank), ("noise.jpg", np.random.default_rng(0).integers(0, 256, (256, 256, 3), np.uint8))]

    def inputs():
        from painter.submit.variants import photo_variant, variant_name, variant_plan

        for index, variant in variant_plan(len(photos)):
            name, image = photos[index]
            yield variant_name(name, variant), photo_variant(image, variant, key=index), variant

    out = tmp_path / "images.zip"
    result = gen.write_submission(out, inputs(), 12, lambda batch: batch, batch=4)
    entries = _entries(out)
    assert result.count == len(entries) == 12
    assert result.dropped_duplicates >= 1
    assert "blank_v001.jpg" not in [name for name, _ in entries]
    assert len({hashlib.sha1(data).digest() for _, data in entries}) == 12


def test_endless_duplicates_stop_with_one_line(tmp_path):
    def same():
        for i in range(10**6):
            yield f"{i}.jpg", np.zeros((256, 256, 3), np.uint8), 0

    out = tmp_path / "images.zip"
    with pytest.raises(DataError, match="could not make 5 distinct images"):
        gen.write_submission(out, same(), 5, lambda batch: batch, batch=2)
    assert not out.exists() and _no_partial_files(tmp_path)


def test_noise_generator_latents_are_seeded(tmp_path):
    from painter.models.noise_gan import noise_generator

    model = noise_generator(NoiseGANConfig(image_size=32, latent_dim=8, gen_filters=32), name="noise_generator")
    digests = []
    for name in ("a.zip", "b.zip"):
        gen.write_submission(tmp_path / name, gen.latent_inputs(8, seed=3), 6, inference.latent_sampler(model), batch=4)
        digests.append(hashlib.sha256((tmp_path / name).read_bytes()).hexdigest())
    assert digests[0] == digests[1]
    entries = _entries(tmp_path / "a.zip")
    assert [n for n, _ in entries] == [f"{i:05d}.jpg" for i in range(6)]
    assert Image.open(io.BytesIO(entries[0][1])).size == (256, 256)


def test_target_count():
    assert gen.target_count(32, None) == 7000
    assert gen.target_count(7038, None) == 7038
    assert gen.target_count(12000, None) == 10000
    assert gen.target_count(32, 9000) == 9000


# -- the CLI: bad inputs fail before writing ------------------------------------------------


@pytest.mark.parametrize("count", ["6999", "10001"])
def test_count_outside_kaggle_range(tiny_run, tmp_path, run_cli, count):
    out = tmp_path / "images.zip"
    code, stdout, err = run_cli("generate", tiny_run, "--out", out, "--count", count)
    assert code == 2
    assert err.strip() == f"error: --count {count}: Kaggle takes 7,000 to 10,000 images"
    assert not out.exists()


def test_run_dir_without_checkpoints(tiny_run, tmp_path, run_cli):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(tiny_run / "config.toml", run / "config.toml")
    out = tmp_path / "images.zip"
    code, stdout, err = run_cli("generate", run, "--out", out)
    assert code == 1
    assert err.strip() == f"error: {run}: no checkpoint (looked in {run / 'checkpoints'})"
    assert not out.exists()
    code, stdout, err = run_cli("generate", tmp_path / "nope", "--out", out)
    assert code == 2 and err.strip() == f"error: {tmp_path / 'nope'}: no such run directory"


def test_photo_source_with_no_images(tiny_run, tmp_path, run_cli):
    empty = tmp_path / "photos"
    empty.mkdir()
    out = tmp_path / "images.zip"
    code, stdout, err = run_cli("generate", tiny_run, "--out", out, "--photos", empty)
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and str(empty) in err and "empty" in err
    assert not out.exists()
    with zipfile.ZipFile(tmp_path / "none.zip", "w") as archive:
        archive.writestr("readme.txt/", b"")
    code, stdout, err = run_cli("generate", tiny_run, "--out", out, "--photos", tmp_path / "none.zip")
    assert code == 1 and len(err.strip().splitlines()) == 1 and "none.zip" in err
    assert not out.exists()


def test_existing_output_is_kept(tiny_run, tmp_path, run_cli):
    out = tmp_path / "images.zip"
    out.write_bytes(b"my best submission")
    code, stdout, err = run_cli("generate", tiny_run, "--out", out)
    assert code == 2
    assert err.strip() == f"error: {out} exists; pass --force to replace it"
    assert out.read_bytes() == b"my best submission"


def test_score_without_weights_fails_before_writing(tiny_run, tmp_path, run_cli, empty_cache):
    out = tmp_path / "images.zip"
    code, stdout, err = run_cli("generate", tiny_run, "--out", out, "--score")
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and "painter weights fetch" in err
    assert not out.exists()


@pytest.mark.parametrize("signal_like", [KeyboardInterrupt, "sigterm"])
def test_interrupted_generation_leaves_no_zip(tiny_run, tmp_path, run_cli, monkeypatch, signal_like):
    import os
    import signal

    real_translator = inference.photo_translator
    calls = []

    def translator(model, image_size=None):
        translate = real_translator(model, image_size)

        def interrupted(batch):
            calls.append(len(batch))
            if len(calls) == 3:
                if signal_like == "sigterm":
                    os.kill(os.getpid(), signal.SIGTERM)
                else:
                    raise KeyboardInterrupt
            return translate(batch)

        return interrupted

    monkeypatch.setattr(inference, "photo_translator", translator)
    out = tmp_path / "images.zip"
    code, stdout, err = run_cli("generate", tiny_run, "--out", out, "--batch", "8")
    assert code == 130
    assert err.strip().splitlines()[-1] == "error: interrupted"
    assert len(calls) == 3
    assert not out.exists() and _no_partial_files(tmp_path)


# -- baselines -----------------------------------------------------------------------------


def test_lab_round_trip_and_reference_values():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    np.testing.assert_array_equal(lab_to_rgb(rgb_to_lab(images)), images)
    lab = rgb_to_lab(np.array([[255, 255, 255], [0, 0, 0], [255, 0, 0]], np.uint8))
    np.testing.assert_allclose(lab, [[100, 0, 0], [0, 0, 0], [53.24, 80.09, 67.20]], atol=0.02)


@pytest.mark.parametrize("space", ["lab", "rgb"])
def test_color_match_moves_statistics_onto_the_monets(sample_dir, space):
    from painter.data import decode_rgb, iter_encoded_images

    stats = color_stats((str(sample_dir), "monet"), space)
    assert stats.images == 32
    photos = [decode_rgb(p.data, p.origin, 256) for p in list(iter_encoded_images((str(sample_dir), "photo")))[:4]]
    matched = match_colors(np.stack(photos), stats)
    assert matched.dtype == np.uint8 and matched.shape == (4, 256, 256, 3)
    values = rgb_to_lab(matched) if space == "lab" else matched.astype(np.float64)
    for image in values:
        # each image now has (up to uint8 rounding and gamut clipping) the Monets' statistics
        np.testing.assert_allclose(image.reshape(-1, 3).mean(0), stats.mean, atol=2.0)
        np.testing.assert_allclose(image.reshape(-1, 3).std(0), stats.std, rtol=0.1)


def test_color_match_of_a_flat_image_does_not_divide_by_zero():
    stats = ColorStats(mean=np.array([120.0, 100.0, 80.0]), std=np.array([30.0, 30.0, 30.0]), space="rgb", images=1)
    flat = np.full((1, 8, 8, 3), 7, np.uint8)
    assert (match_colors(flat, stats) == np.array([120, 100, 80], np.uint8)).all()


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["photos", "--count", "100"], 2, "--count 100: Kaggle takes 7,000 to 10,000 images"),
        (["color-match", "--monets", "{tmp}/empty"], 1, "empty"),
        (["photos", "--photos", "{tmp}/missing"], 2, "missing: no such file or directory"),
    ],
)
def test_baseline_bad_inputs(tmp_path, run_cli, args, code, message):
    (tmp_path / "empty").mkdir()
    out = tmp_path / "images.zip"
    got, stdout, err = run_cli("baseline", *[a.format(tmp=tmp_path) for a in args], "--out", out)
    assert got == code
    assert len(err.strip().splitlines()) == 1 and message in err
    assert not out.exists()


def test_baseline_refuses_existing_output(tmp_path, run_cli):
    out = tmp_path / "images.zip"
    out.write_bytes(b"keep")
    code, stdout, err = run_cli("baseline", "photos", "--out", out)
    assert code == 2 and "exists; pass --force" in err
    assert out.read_bytes() == b"keep"


def test_photo_names_that_look_like_variants_stay_unique(sample_dir):
    from painter.data import EncodedImage

    data = (sample_dir / "photo_jpg" / "00068bc07f.jpg").read_bytes()
    photos = [EncodedImage(name, data, name) for name in ("a", "a_v001", "b")]
    names = [name for _, (name, _, _) in zip(range(9), gen.photo_inputs(photos))]
    assert len(set(names)) == 9
    assert names[:4] == ["a.jpg", "a_v001.jpg", "b.jpg", "a_v001_.jpg"]


def test_best_checkpoint_is_used_when_present_and_said(tiny_run, tmp_path, monkeypatch):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    step = next((run / "checkpoints").glob("step_*"))
    assert gen.default_checkpoint(run) == "last"
    shutil.copytree(step, run / "checkpoints" / "best")
    assert gen.default_checkpoint(run) == "best"

    seen = {}

    def fake_write(out, inputs, count, transform, **kwargs):
        seen.update(count=count, checkpoint=kwargs["checkpoint"])
        return gen.GenerateResult(path=out, count=count, seconds=1.0)

    monkeypatch.setattr(gen, "write_submission", fake_write)
    messages = []
    gen.generate(run, tmp_path / "images.zip", log=messages.append)
    assert seen == {"count": 7000, "checkpoint": "best"}
    assert any("best checkpoint" in m for m in messages)
    gen.generate(run, tmp_path / "images.zip", checkpoint="last", log=messages.append)
    assert seen["checkpoint"] == step.name
