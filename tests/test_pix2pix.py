"""pix2pix: the paper's networks at their real widths (parameter counts), dropout when
generating, a tiny pix2pix that overfits 8 real pairs, one step on 2 replicas equal to one
on 1, and a run through `painter train`, the generator's loading, the report and
`painter generate`."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import one_train_step
from painter.data.paired import PAIRED_SAMPLE_ROOT, iter_pairs
from painter.families.pix2pix import Pix2PixConfig
from painter.train.strategy import logical_cpus, mirrored_strategy, pick_strategy

# Tiny widths, no dropout (so a step is deterministic), no XLA.
TINY = Pix2PixConfig(image_size=32, gen_filters=4, disc_filters=4, disc_layers=2, dropout=0.0,
                     batch_size=2, epochs=1, decay_epochs=0, augment=False, jit_compile=False,
                     sample_images=2, keep_checkpoints=1)


def paper_unet_parameters(ngf: int = 64, num_downs: int = 8, channels: int = 3) -> int:
    """Parameters of `UnetGenerator` in the paper's code (junyanz/pytorch-CycleGAN-and-
    pix2pix, `networks.py`) with batch norm, block by block: every conv is 4×4 and has no
    bias (the norm's offset replaces it) but the last transposed conv; a norm has a scale
    and an offset per channel; the innermost block has no norm after its down conv."""

    def conv(fan_in: int, fan_out: int, bias: bool = False) -> int:
        return fan_in * fan_out * 16 + (fan_out if bias else 0)

    def norm(width: int) -> int:
        return 2 * width

    # innermost: down conv, up conv, up norm
    total = conv(ngf * 8, ngf * 8) + conv(ngf * 8, ngf * 8) + norm(ngf * 8)
    blocks = [(ngf * 8, ngf * 8)] * (num_downs - 5) + [(ngf * 4, ngf * 8), (ngf * 2, ngf * 4),
                                                        (ngf, ngf * 2)]
    for outer, inner in blocks:  # down conv + norm, up conv (from the joined skip) + norm
        total += conv(outer, inner) + norm(inner) + conv(inner * 2, outer) + norm(outer)
    return total + conv(channels, ngf) + conv(ngf * 2, channels, bias=True)  # outermost


def paper_patchgan_parameters(channels: int = 6, ndf: int = 64, layers: int = 3) -> int:
    """Parameters of `NLayerDiscriminator` in the paper's code with batch norm: the first
    and the last conv have a bias, the normed ones not."""
    total, mult = channels * ndf * 16 + ndf, 1
    for n in range(1, layers + 1):
        previous, mult = mult, min(2**n, 8)
        total += ndf * previous * ndf * mult * 16 + 2 * ndf * mult
    return total + ndf * mult * 16 + 1


def test_real_unet_256_and_patchgan_have_the_paper_codes_parameter_counts():
    from painter.models.pix2pix import conditional_patchgan, unet_generator

    config = Pix2PixConfig()
    generator = unet_generator(config)
    discriminator = conditional_patchgan(config)
    assert generator.output_shape == (None, 256, 256, 3)
    assert discriminator.input_shape == (None, 256, 256, 6)
    assert discriminator.output_shape == (None, 30, 30, 1)  # 70×70 patches
    assert generator.count_params() == paper_unet_parameters() == 54_413_955
    # The figure 54,414,979 also quoted for it counts a norm after the innermost down conv
    # (the Kaggle starter notebook's U-Net has one; the paper's code has not): 2 · 512 more.
    assert 54_414_979 - generator.count_params() == 2 * 8 * config.gen_filters
    assert discriminator.count_params() == paper_patchgan_parameters() == 2_768_705
    assert len([layer for layer in generator.layers if "down" in layer.name
                and layer.name.endswith("_conv")]) == 8
    assert len([layer for layer in generator.layers if layer.name.endswith("_dropout")]) == 3


def test_dropout_stays_on_when_generating_and_survives_saving(tmp_path):
    from painter.models.pix2pix import unet_generator

    generator = unet_generator(dataclasses.replace(TINY, dropout=0.5))
    x = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    first, second = (np.asarray(generator(x, training=False)) for _ in range(2))
    assert np.abs(first - second).max() > 1e-4  # a new dropout mask each call
    plain = unet_generator(TINY)
    np.testing.assert_array_equal(plain(x, training=False), plain(x, training=False))

    generator.save(tmp_path / "generator.keras")
    loaded = keras.saving.load_model(tmp_path / "generator.keras")
    assert type(loaded.get_layer("generator_up1_dropout")).__name__ == "GenerationDropout"
    assert np.abs(np.asarray(loaded(x, training=False)) - np.asarray(loaded(x))).max() > 1e-4


def test_a_tiny_pix2pix_overfits_eight_real_pairs():
    from painter.train.pix2pix import build_pix2pix, compile_pix2pix

    keras.utils.set_random_seed(0)  # the dropout kept at generation makes the L1 noisy
    pairs = [pair for _, *pair in iter_pairs(PAIRED_SAMPLE_ROOT, image_size=32)][:8]
    inputs, targets = (np.stack(images).astype("float32") / 127.5 - 1.0 for images in zip(*pairs))
    config = dataclasses.replace(TINY, gen_filters=8, disc_filters=8, batch_size=8,
                                 learning_rate=2e-3)
    model = build_pix2pix(config)
    compile_pix2pix(model, config, steps_per_epoch=150, jit_compile=False)

    def l1() -> float:
        return float(np.abs(np.asarray(model.generator(inputs)) - targets).mean())

    before = l1()
    model.fit(tf.data.Dataset.from_tensors((inputs, targets)).repeat(), steps_per_epoch=150,
              epochs=1, verbose=0)
    after = l1()
    assert after * 5 <= before, (before, after)


def _sgd_pix2pix(strategy, weights=None):
    """The real Pix2Pix compiled eagerly with SGD, whose step (unlike Adam's first) is
    proportional to the gradient, so a loss reduced over the wrong batch would show."""
    from painter.train.pix2pix import build_pix2pix

    with strategy.scope():
        model = build_pix2pix(dataclasses.replace(TINY, batch_size=4))
        if weights is not None:
            for name, network in model.networks.items():
                network.set_weights(weights[name])
        model.compile(keras.optimizers.SGD(0.5), keras.optimizers.SGD(0.5), loss="bce",
                      run_eagerly=True)
    return model


def test_pix2pix_step_on_two_replicas_equals_one_replica():
    rng = np.random.default_rng(0)
    batch = tuple(rng.uniform(-1, 1, (4, 32, 32, 3)).astype("float32") for _ in range(2))
    single = pick_strategy("cpu")
    mirrored = mirrored_strategy(logical_cpus())  # conftest's two logical CPUs
    assert mirrored.num_replicas_in_sync == 2
    one = _sgd_pix2pix(single)
    initial = {name: net.get_weights() for name, net in one.networks.items()}
    two = _sgd_pix2pix(mirrored, weights=initial)
    logs = [one_train_step(one, single, batch), one_train_step(two, mirrored, batch)]
    assert logs[0].keys() == logs[1].keys() == {"G_loss", "G_adv_loss", "L1_loss", "D_loss"}
    for name in logs[0]:
        assert logs[1][name] == pytest.approx(logs[0][name], abs=1e-5), name
    moved = 0.0
    for name in one.networks:
        for before, a, b in zip(initial[name], one.networks[name].get_weights(),
                                two.networks[name].get_weights()):
            np.testing.assert_allclose(b, a, atol=1e-5, err_msg=name)
            moved = max(moved, float(np.abs(a - before).max()))
    assert moved > 1e-3


# ---- a run -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pix2pix_run(tmp_path_factory) -> Path:
    """A tiny pix2pix trained 2 steps by `painter train` on the embedded sample's first 4
    pairs laid out as A/ and B/ folders (read-only for tests)."""
    from PIL import Image

    from painter.config import config_to_toml

    base = tmp_path_factory.mktemp("pix2pix")
    for name, a, b in list(iter_pairs(PAIRED_SAMPLE_ROOT))[:4]:
        for side, image in (("A", a), ("B", b)):
            (base / "data" / side).mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(base / "data" / side / f"{name}.png")
    (base / "tiny.toml").write_text(config_to_toml(dataclasses.replace(TINY, augment=True)))
    from painter.cli import main

    with pytest.raises(SystemExit) as exit_status:
        main(["train", str(base / "tiny.toml"), "--data", str(base / "data"), "--out",
              str(base / "run"), "--steps-per-epoch", "2"])
    assert exit_status.value.code == 0
    return base / "run"


def test_the_run_samples_input_output_target_triplets_and_reports_them(pix2pix_run, tmp_path):
    from PIL import Image

    from painter.report import write_report

    grid = np.asarray(Image.open(pix2pix_run / "samples" / "epoch_001.png").convert("RGB"))
    assert grid.shape == (2 * 32 + 2, 3 * 32 + 2 * 2, 3)  # 2 rows of input | output | target
    (_, a, b), = list(iter_pairs(pix2pix_run.parent / "data", image_size=32))[:1]
    assert np.abs(grid[:32, :32].astype(int) - a).mean() < 2  # the input, left
    assert np.abs(grid[:32, -32:].astype(int) - b).mean() < 2  # the target, right
    report = write_report(pix2pix_run, out=tmp_path / "report.html")
    html = Path(report).read_text()
    assert "an input, its translation by the generator and the target" in html
    assert "pix2pix" in html


def test_the_runs_generator_translates_photos(pix2pix_run):
    from painter.inference import photo_translator
    from painter.train.checkpoints import load_generator

    config, generator = load_generator(pix2pix_run)
    assert config.family == "pix2pix" and generator.name == "generator"
    photos = np.stack([a for _, a, _ in list(iter_pairs(PAIRED_SAMPLE_ROOT))[:2]])
    images = photo_translator(generator, config.image_size)(photos)
    assert images.shape == (2, 256, 256, 3) and images.dtype == np.uint8


@pytest.mark.slow
def test_generate_translates_a_folder_of_inputs(pix2pix_run, tmp_path, run_cli):
    from painter.submit.check import check_submission

    inputs = tmp_path / "A"
    shutil.copytree(pix2pix_run.parent / "data" / "A", inputs)
    code, out, err = run_cli("generate", pix2pix_run, "--photos", inputs, "--out",
                             tmp_path / "images.zip")
    assert code == 0, err
    assert "wrote 7,000 images" in err  # messages on stderr, the zip's path on stdout
    assert out.strip() == str(tmp_path / "images.zip")
    assert check_submission(tmp_path / "images.zip").ok
