"""Generation and scoring on Keras' JAX backend, in a process without TensorFlow, against
the same computations on TensorFlow in this (TensorFlow) test process.

One JAX subprocess (`on_jax`) does all the JAX work, so the suite pays JAX's start-up and
compilations once: `painter generate` from a run trained here on TensorFlow and
`painter check` of its zip; the run's generator on a few photos and a noise generator on
a few latents (uint8 images to compare); the FID Inception's features of 8 Monets; and
`painter score --json`. The same things are computed here on TensorFlow and compared.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from conftest import run_python

pytestmark = pytest.mark.usefixtures("jax_installed")

# The translation test's photos: the sample's first photos and their variants.
N_TRANSLATED = 40
NOISE_CONFIG = dict(image_size=32, latent_dim=8, gen_filters=32)

JAX_SCRIPT = """
import contextlib, io, json, os, sys
from pathlib import Path

# No backend named: without TensorFlow the CLI must choose JAX itself (Keras' default is TF).
os.environ.pop("KERAS_BACKEND")

import numpy as np

args = json.loads({args!r})
out = Path(args["out"])
results = {{}}


def painter(*argv):
    # The CLI's own entry point, in this process: its code path, without a second start-up.
    from painter.cli import main

    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            main([str(a) for a in argv])
            code = 0
        except SystemExit as e:
            code = e.code
    return {{"code": code, "out": stdout.getvalue(), "err": stderr.getvalue()}}


results["generate"] = painter("generate", args["run"], "--out", out / "images.zip")
results["check"] = painter("check", out / "images.zip")

# The TensorFlow-trained run's generator, and a noise generator with weights saved on TF.
from painter.inference import latent_sampler, photo_translator
from painter.models.noise_gan import noise_generator
from painter.config import NoiseGANConfig
from painter.train.checkpoints import load_generator

config, model = load_generator(args["run"])
np.save(out / "translated.npy", photo_translator(model, config.image_size)(np.load(args["photos"])))
noise = noise_generator(NoiseGANConfig(**args["noise_config"]))
noise.load_weights(args["noise_weights"])
np.save(out / "sampled.npy", latent_sampler(noise)(np.load(args["latents"])))

# The FID Inception's features, and the whole of `painter score`. Its 2048² sqrtm (a
# minute of CPU, numpy on either backend) is swapped for the same cheap stand-in on both
# sides: what depends on the backend is the features.
from painter.metrics import score as score_module
from painter.metrics.features import decode_photos, inception_features
from painter.metrics.inception import fid_inception

monets = decode_photos(sorted(Path(args["monets"]).glob("*.jpg")))
network = fid_inception(weights=args["fid_weights"])
np.save(out / "features.npy", inception_features(list(monets), batch=8, model=network))
from test_jax_score import cheap_frechet_distance

score_module.frechet_distance = cheap_frechet_distance
results["score"] = painter("score", args["generated"], "--real", args["real"], "--json",
                           "--no-cache", "--batch", 8, "--weights", args["fid_weights"])

import keras
results["backend"] = keras.backend.backend()
results["tensorflow_imported"] = any(m.split(".")[0] == "tensorflow" for m in sys.modules)
(out / "results.json").write_text(json.dumps(results))
"""


def cheap_frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """The stand-in for the FID's sqrtm maths in `painter score`, the same on both sides."""
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(sigma1) + np.trace(sigma2))


def _copy(files, folder):
    folder.mkdir(parents=True)
    for file in files:
        shutil.copy(file, folder / file.name)
    return folder


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, sample_dir, tiny_run, fid_weights):
    """What both backends get: the run, photos, latents, noise-generator weights, Monets,
    and the two image folders `painter score` compares."""
    import itertools

    from painter.config import NoiseGANConfig
    from painter.models.noise_gan import noise_generator
    from painter.submit.generate import photo_inputs, read_photos

    root = tmp_path_factory.mktemp("jax_score")
    photos = read_photos((str(sample_dir), "photo"))
    np.save(root / "photos.npy", np.stack(
        [image for _, image, _ in itertools.islice(photo_inputs(photos), N_TRANSLATED)]))
    np.save(root / "latents.npy", np.random.default_rng(7).standard_normal((6, 8), np.float32))
    noise = noise_generator(NoiseGANConfig(**NOISE_CONFIG))
    noise.save_weights(root / "noise.weights.h5")
    monets = sorted((sample_dir / "monet_jpg").glob("*.jpg"))
    paths = {
        "run": tiny_run, "photos": root / "photos.npy", "latents": root / "latents.npy",
        "noise_weights": root / "noise.weights.h5", "noise_config": NOISE_CONFIG,
        "monets": _copy(monets[:8], root / "monets"), "fid_weights": fid_weights,
        "generated": _copy(sorted((sample_dir / "photo_jpg").glob("*.jpg"))[8:16], root / "gen"),
        "real": _copy(monets[8:16], root / "real"),
    }
    return root, {k: v if isinstance(v, dict) else str(v) for k, v in paths.items()}


@pytest.fixture(scope="module")
def on_jax(inputs):
    """The JAX subprocess's results (JAX_SCRIPT), TensorFlow blocked there."""
    root, args = inputs
    out = root / "jax"
    out.mkdir()
    run_python(JAX_SCRIPT.format(args=json.dumps({**args, "out": str(out)})),
               backend="jax", devices=1, tensorflow=False)
    return out, json.loads((out / "results.json").read_text())


@pytest.mark.slow
def test_jax_process_ran_without_tensorflow(on_jax):
    _, results = on_jax
    assert results["backend"] == "jax"
    assert results["tensorflow_imported"] is False


@pytest.mark.slow
def test_generate_on_jax_from_a_tensorflow_run_writes_a_zip_check_accepts(on_jax):
    out, results = on_jax
    generate, check = results["generate"], results["check"]
    assert generate["code"] == 0, generate["err"]
    assert generate["out"].strip() == str(out / "images.zip")
    assert "wrote 7,000 images" in generate["err"]
    assert check["code"] == 0, check["err"]
    assert "7,000 images, all 256×256×3 JPEGs: ok" in check["out"]


@pytest.mark.slow
def test_generated_images_on_jax_match_tensorflow(inputs, on_jax):
    from painter.config import NoiseGANConfig
    from painter.inference import latent_sampler, photo_translator
    from painter.models.noise_gan import noise_generator
    from painter.train.checkpoints import load_generator

    root, args = inputs
    out, _ = on_jax
    config, model = load_generator(args["run"])
    # The tiny run works at 32 px: photos are resized down (antialiased) and back up, so
    # this covers the resizes as well as the network.
    assert config.image_size == 32
    on_tf = photo_translator(model, config.image_size)(np.load(args["photos"])).astype(int)
    translated = np.load(out / "translated.npy").astype(int)
    assert translated.shape == on_tf.shape == (N_TRANSLATED, 256, 256, 3)
    # Float rounding apart, the same: at most one level, in a few values.
    assert np.abs(translated - on_tf).max() <= 1
    assert np.mean(translated != on_tf) < 1e-3

    noise = noise_generator(NoiseGANConfig(**NOISE_CONFIG))
    noise.load_weights(args["noise_weights"])
    on_tf = latent_sampler(noise)(np.load(args["latents"])).astype(int)
    sampled = np.load(out / "sampled.npy").astype(int)
    assert sampled.shape == on_tf.shape == (6, 256, 256, 3)
    assert np.abs(sampled - on_tf).max() <= 1
    assert np.mean(sampled != on_tf) < 1e-3


@pytest.mark.slow
def test_fid_features_on_jax_equal_tensorflow_within_1e_5(inputs, on_jax, fid_weights):
    from pathlib import Path

    from painter.metrics.features import decode_photos, inception_features
    from painter.metrics.inception import fid_inception

    _, args = inputs
    out, _ = on_jax
    monets = decode_photos(sorted(Path(args["monets"]).glob("*.jpg")))
    on_tf = inception_features(list(monets), batch=8, model=fid_inception(weights=fid_weights))
    features = np.load(out / "features.npy")
    assert features.shape == on_tf.shape == (8, 2048)
    # Relative to each image's largest feature (pool_3 features are ≥ 0, many near 0).
    scale = np.abs(on_tf).max(axis=1, keepdims=True)
    assert np.all(scale > 0.1)
    assert np.max(np.abs(features - on_tf) / scale) <= 1e-5


@pytest.mark.slow
def test_score_on_jax_equals_score_on_tensorflow(inputs, on_jax, run_cli, monkeypatch):
    from painter.metrics import score as score_module

    _, args = inputs
    _, results = on_jax
    assert results["score"]["code"] == 0, results["score"]["err"]
    on_jax_score = json.loads(results["score"]["out"])
    monkeypatch.setattr(score_module, "frechet_distance", cheap_frechet_distance)
    code, out, err = run_cli("score", args["generated"], "--real", args["real"], "--json",
                             "--no-cache", "--batch", 8, "--weights", args["fid_weights"])
    assert code == 0, err
    on_tf = json.loads(out)
    assert list(on_jax_score) == list(on_tf)
    assert on_jax_score["n_generated"] == on_tf["n_generated"] == 8
    assert on_jax_score["n_real"] == on_tf["n_real"] == 8
    for key in ("mifid", "fid", "distance"):
        assert on_jax_score[key] == pytest.approx(on_tf[key], rel=1e-5), key


# ---- TensorBoard event files without TensorFlow (in this process: the writer is chosen
# by what is installed, which the tests pretend) ----------------------------------------


def _write_and_read_events(folder, writer_class: str) -> dict:
    """{tag: (step, plugin, value)} of a scalar and an image batch written by EventWriter."""
    import tensorflow as tf

    from painter.train.tensorboard import EventWriter

    writer = EventWriter(folder)
    assert type(writer._writer).__name__ == writer_class
    writer.scalars({"G_loss": 1.5, "note": "skipped", "done": True}, step=3)
    writer.images("samples", np.linspace(-1, 1, 2 * 8 * 6 * 3).reshape(2, 8, 6, 3), step=4)
    writer.close()
    (events,) = list(folder.iterdir())
    values = {}
    for event in tf.compat.v1.train.summary_iterator(str(events)):
        for value in event.summary.value:
            values[value.tag] = (event.step, value.metadata.plugin_data.plugin_name,
                                 tf.make_ndarray(value.tensor))
    return values


def test_event_files_without_tensorflow_read_back_as_tensorflow_writes_them(tmp_path,
                                                                             monkeypatch):
    pytest.importorskip("tensorboardX", reason="tensorboardX writes the event files without TF")
    import tensorflow as tf

    from painter.train import tensorboard

    with monkeypatch.context() as patch:
        patch.setattr(tensorboard, "has_tensorflow", lambda: False)
        ours = _write_and_read_events(tmp_path / "x", "_TensorBoardXEvents")
    theirs = _write_and_read_events(tmp_path / "tf", "_TensorFlowEvents")
    assert set(ours) == set(theirs) == {"G_loss", "samples"}
    assert ours["G_loss"][:2] == theirs["G_loss"][:2] == (3, "scalars")
    assert ours["G_loss"][2] == theirs["G_loss"][2] == pytest.approx(1.5)
    assert ours["G_loss"][2].dtype == theirs["G_loss"][2].dtype == np.float32
    assert ours["samples"][:2] == theirs["samples"][:2] == (4, "images")
    assert list(ours["samples"][2]) == list(theirs["samples"][2])
    assert list(ours["samples"][2][:2]) == [b"6", b"8"]  # width, height
    decoded = [tf.io.decode_png(png).numpy() for png in ours["samples"][2][2:]]
    assert [image.shape for image in decoded] == [(8, 6, 3)] * 2


def test_without_tensorflow_or_tensorboardx_the_writer_says_so_once(tmp_path, monkeypatch):
    from painter.train import tensorboard

    monkeypatch.setattr(tensorboard, "has_tensorflow", lambda: False)
    monkeypatch.setattr(tensorboard, "installed", lambda module: False)
    lines = []
    writer = tensorboard.EventWriter(tmp_path / "logs", log=lines.append)
    writer.scalars({"G_loss": 1.5}, step=1)
    writer.images("samples", np.zeros((1, 4, 4, 3), "float32"), step=1)
    writer.flush()
    writer.close()
    assert lines == [tensorboard.NOT_WRITTEN]
    assert not writer.writes
    assert not (tmp_path / "logs").exists()
