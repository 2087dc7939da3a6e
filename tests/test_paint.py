"""`painter paint` and `painter baseline stylize`: photos → a folder of same-named JPEGs.

A tiny CycleGAN run (32 px, 1 step) paints from a run directory; the stylizer tests need
the converted stylizer weights (`painter weights fetch stylizer`) and skip without them.
"""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
from PIL import Image


@pytest.fixture
def few_photos(tmp_path, sample_dir):
    """Five sample photos in a folder, one of them as PNG."""
    folder = tmp_path / "photos"
    folder.mkdir()
    files = sorted((sample_dir / "photo_jpg").glob("*.jpg"))[:5]
    for path in files[:4]:
        (folder / path.name).write_bytes(path.read_bytes())
    Image.open(files[4]).save(folder / (files[4].stem + ".png"))
    return folder


def _no_leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".")] == []


def _jpegs(folder):
    return sorted(p.name for p in folder.iterdir())


# ---- a run directory -------------------------------------------------------------------


def test_run_dir_paints_a_folder_of_same_named_jpegs(tiny_run, few_photos, tmp_path, run_cli):
    from painter.inference import photo_translator
    from painter.train.checkpoints import load_generator

    out = tmp_path / "painted"
    code, stdout, stderr = run_cli("paint", tiny_run, few_photos, "--out", out)
    assert code == 0, stderr
    assert stdout.strip() == str(out)
    assert _jpegs(out) == sorted(p.stem + ".jpg" for p in few_photos.iterdir())
    assert "checkpoint" in stderr and "wrote 5 paintings" in stderr
    assert _no_leftovers(tmp_path)
    # Each file is the run's translation of its photo, as `painter generate` makes it.
    config, model = load_generator(tiny_run, "last")
    name = sorted(few_photos.glob("*.jpg"))[0]
    expected = photo_translator(model, config.image_size)(np.asarray(Image.open(name))[None])[0]
    written = np.asarray(Image.open(out / name.name))
    assert written.shape == (256, 256, 3)
    assert np.abs(written.astype(int) - expected.astype(int)).mean() < 3  # JPEG q95


def test_any_source_and_one_file(tiny_run, few_photos, tmp_path, run_cli):
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted(few_photos.iterdir())[:3]:
            z.write(path, f"inner/{path.name}")
    code, _, stderr = run_cli("paint", tiny_run, archive, "--out", tmp_path / "from_zip")
    assert code == 0, stderr
    assert len(_jpegs(tmp_path / "from_zip")) == 3
    one = sorted(few_photos.glob("*.jpg"))[0]
    code, _, stderr = run_cli("paint", tiny_run, one, "--out", tmp_path / "one")
    assert code == 0, stderr
    assert _jpegs(tmp_path / "one") == [one.name]


def test_existing_files_are_kept_without_force(tiny_run, few_photos, tmp_path, run_cli):
    out = tmp_path / "painted"
    out.mkdir()
    mine = sorted(few_photos.glob("*.jpg"))[1].name
    (out / mine).write_bytes(b"mine")
    (out / "unrelated.txt").write_text("keep me")
    code, stdout, stderr = run_cli("paint", tiny_run, few_photos, "--out", out)
    assert code == 2 and stdout == ""
    assert stderr.strip().splitlines() == [f"error: {out / mine} exists; pass --force to replace"]
    assert _jpegs(out) == [mine, "unrelated.txt"] and (out / mine).read_bytes() == b"mine"
    code, _, stderr = run_cli("paint", tiny_run, few_photos, "--out", out, "--force")
    assert code == 0, stderr
    assert (out / mine).read_bytes()[:3] == b"\xff\xd8\xff"
    assert (out / "unrelated.txt").read_text() == "keep me"
    assert len(_jpegs(out)) == 6 and _no_leftovers(tmp_path)


def test_bad_photo_is_one_error_line_naming_it_and_writes_nothing(tiny_run, few_photos, tmp_path,
                                                                  run_cli, one_error_line):
    bad = few_photos / "zzz.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    out = tmp_path / "painted"
    code, _, stderr = run_cli("paint", tiny_run, few_photos, "--out", out)
    assert code == 1
    assert str(bad) in one_error_line(stderr)
    assert not out.exists() and _no_leftovers(tmp_path)


@pytest.mark.parametrize("args, code, message", [
    (["no_such_run", "{photos}"], 2, "neither `stylizer` nor a run directory"),
    (["{run}", "no_such_photos"], 2, "no_such_photos: no such file or directory"),
    (["{run}", "{photos}", "--checkpoint", "nope"], 1, "nope"),
    (["stylizer", "{photos}", "--strength", "1.5"], 2, "--strength 1.5: must be in [0, 1]"),
    (["stylizer", "{photos}", "--style", "no_such_style"], 2, "--style no_such_style"),
    (["stylizer", "{photos}", "--checkpoint", "best"], 2, "the stylizer has none"),
])
def test_bad_arguments(tiny_run, few_photos, tmp_path, run_cli, one_error_line, args, code,
                       message):
    args = [a.format(run=tiny_run, photos=few_photos) for a in args]
    got, _, stderr = run_cli("paint", *args, "--out", tmp_path / "painted")
    assert got == code
    assert message in one_error_line(stderr), stderr
    assert not (tmp_path / "painted").exists()


@pytest.mark.parametrize("args, message", [
    (["--strength", "-0.1"], "--strength -0.1: must be in [0, 1]"),
    (["--style", "nowhere.jpg"], "--style nowhere.jpg"),
    (["--count", "10"], "--count 10"),
])
def test_baseline_stylize_bad_arguments(few_photos, tmp_path, run_cli, args, message):
    code, _, stderr = run_cli("baseline", "stylize", "--photos", few_photos,
                              "--out", tmp_path / "s.zip", *args)
    lines = stderr.strip().splitlines()
    assert code == 2 and len(lines) == 1 and message in lines[0], stderr
    assert not (tmp_path / "s.zip").exists()


def test_stylizer_without_weights_says_how_to_get_them(few_photos, tmp_path, run_cli, empty_cache):
    for command in (["paint", "stylizer", few_photos, "--out", tmp_path / "painted"],
                    ["baseline", "stylize", "--photos", few_photos, "--out", tmp_path / "s.zip"]):
        code, _, stderr = run_cli(*command)
        assert code == 1
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and "stylizer weights not found" in lines[0]
        assert "painter weights fetch stylizer" in lines[0]
    assert not (tmp_path / "painted").exists() and not (tmp_path / "s.zip").exists()


# ---- the stylizer (needs the cached weights) ---------------------------------------------------


@pytest.mark.slow
def test_stylizer_paints_seeded_monet_styles(stylizer_weights, few_photos, tmp_path, run_cli,
                                             sample_dir):
    outs = {}
    for label, extra in (("a", []), ("b", []), ("seed", ["--seed", "1"]), ("mean", ["--style", "mean"])):
        outs[label] = tmp_path / label
        code, _, stderr = run_cli("paint", "stylizer", few_photos, "--out", outs[label],
                                  "--monets", sample_dir / "monet_jpg", *extra)
        assert code == 0, stderr
    assert "a random one of 32 style images" in stderr.replace("the mean of", "a random one of")
    names = _jpegs(outs["a"])
    assert names == sorted(p.stem + ".jpg" for p in few_photos.iterdir())
    read = {k: np.stack([np.asarray(Image.open(v / n), np.int16) for n in names]) for k, v in outs.items()}
    np.testing.assert_array_equal(read["a"], read["b"])  # seeded: the same paintings again
    assert np.abs(read["a"] - read["seed"]).mean() > 1  # another seed, other Monets
    assert np.abs(read["a"] - read["mean"]).mean() > 1
    photos = np.stack([np.asarray(Image.open(sorted(few_photos.glob(n[:-4] + ".*"))[0]), np.int16)
                       for n in names])
    assert np.abs(read["a"] - photos).mean() > 5  # painted, not copied


@pytest.mark.slow
def test_stylizer_with_one_style_file_and_lab(stylizer_weights, few_photos, tmp_path, sample_dir):
    from painter.data.color import lab_statistics
    from painter.submit.paint import paint

    style = sorted((sample_dir / "monet_jpg").glob("*.jpg"))[0]
    result = paint("stylizer", few_photos, tmp_path / "out", style=str(style), lab=True,
                   strength=1.0, log=lambda m: None)
    assert result.count == 5
    painted = [np.asarray(Image.open(p)) for p in sorted((tmp_path / "out").iterdir())]
    mean, _, _ = lab_statistics(painted)
    target, _, _ = lab_statistics([np.asarray(Image.open(style))])
    np.testing.assert_allclose(mean, target, atol=2.5)  # Lab statistics moved onto the style's


@pytest.mark.slow
def test_stylize_baseline_zip_equals_paint(stylizer_weights, few_photos, tmp_path, sample_dir):
    """The baseline's transform is the same model as `paint stylizer` (small count through
    the library: the CLI insists on Kaggle's 7,000)."""
    import itertools

    from painter.inference import photo_translator
    from painter.submit.generate import photo_inputs, read_photos, write_submission
    from painter.submit.paint import paint, stylizer_model

    monets = str(sample_dir / "monet_jpg")
    photos = read_photos(str(few_photos))
    model = stylizer_model(strength=0.5, monets=monets, log=lambda m: None)
    out = tmp_path / "images.zip"
    write_submission(out, itertools.islice(photo_inputs(photos), 5), 5, photo_translator(model))
    paint("stylizer", few_photos, tmp_path / "painted", monets=monets, log=lambda m: None)
    with zipfile.ZipFile(out) as z:
        for name in z.namelist():
            assert z.read(name) == (tmp_path / "painted" / name).read_bytes(), name


@pytest.mark.slow
def test_untrained_stylizer_generator_is_the_baseline(stylizer_weights, sample_dir):
    """Epoch 0 of a stylizer-based run is `baseline stylize` at the chosen strength (here
    with the Lab transfer after it, as `base_order = "stylize_first"` builds)."""
    import dataclasses

    from painter.config import load_config
    from painter.metrics.features import decoded_images
    from painter.models.generators import build_generator, start_stylizer_base
    from painter.data.color import lab_statistics
    from painter.inference import photo_translator
    from painter.submit.generate import read_photos
    from painter.submit.paint import stylizer_model
    from painter.metrics.features import decode_photos

    config = dataclasses.replace(load_config("cpu_proof_stylizer"), base_strength=0.5,
                                 color_transfer="lab")
    generator = build_generator(config, "gen_G")
    monets = np.stack(list(decoded_images((str(sample_dir), "monet"))))
    mean, std, _ = lab_statistics(monets)
    generator.get_layer("gen_G_color_transfer").set_target(mean, std)
    start_stylizer_base(generator, config, monets, log=lambda m: None)
    baseline = stylizer_model(strength=0.5, monets=(str(sample_dir), "monet"), lab=True,
                              log=lambda m: None)
    photos = decode_photos(read_photos((str(sample_dir), "photo"))[:4])
    ours = photo_translator(generator, config.image_size)(photos).astype(int)
    theirs = photo_translator(baseline)(photos).astype(int)
    assert np.abs(ours - theirs).max() <= 1  # rounding only


def test_interrupted_painting_leaves_nothing(few_photos, tmp_path):
    from painter.submit.generate import read_photos
    from painter.submit.paint import write_folder

    calls = []

    def transform(batch):
        calls.append(len(batch))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return batch

    out = tmp_path / "painted"
    out.mkdir()
    (out / "mine.jpg").write_bytes(b"mine")
    with pytest.raises(KeyboardInterrupt):
        write_folder(out, read_photos(str(few_photos)), transform, batch=2)
    assert calls == [2, 2]
    assert _jpegs(out) == ["mine.jpg"] and _no_leftovers(tmp_path)
