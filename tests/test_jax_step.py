"""A train step on Keras' JAX backend equals the TensorFlow step, and 2 JAX devices equal 1.

Each family's model takes one step through `model.fit` from the same weights and batch on
TensorFlow (this process) and on JAX (one subprocess with two CPU devices, which also takes
the step data-parallel over both). Everything a step changes is compared: the networks'
weights (and spectral norm's vectors, the image pool), every optimizer variable (Adam's
first moment is the gradient itself, so a wrong gradient shows there even where Adam's
first update, ≈ lr·sign(g), would hide it), the generator's moving average and the
metrics. The configs leave out the randomness the backends draw differently (DiffAugment;
a pool past filling; a subset of PatchNCE positions; dropout); the noise GAN's latents are
fixed (`tests/support/one_step.py`).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from conftest import random_images, run_python, tiny_cyclegan
from painter.families.cut import CUTConfig
from painter.families.noise_gan import NoiseGANConfig
from painter.families.pix2pix import Pix2PixConfig
from support import one_step

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("jax_installed")]

TOLERANCE = 1e-4  # the bound, relative to each tensor's largest magnitude

CASES = {
    # The pool (50) is still filling after one batch of 2, so it passes the fakes through.
    "cyclegan": tiny_cyclegan(pool_size=50, ema_decay=0.9),
    # Every position of every encoder layer (the largest, the reflection-padded input,
    # has 38·38): PatchNCE is then the same loss whatever order they are drawn in.
    "cut": CUTConfig(image_size=32, gen_filters=4, residual_blocks=1, disc_filters=4,
                     disc_layers=2, batch_size=2, augment=False, jit_compile=False,
                     nce_patches=38 * 38, head_units=8, sample_images=2),
    "noise_gan": NoiseGANConfig(image_size=16, latent_dim=8, gen_filters=8, disc_filters=4,
                                disc_layers=2, batch_size=2, diffaugment="", augment=False,
                                jit_compile=False, ema_decay=0.5),
    "pix2pix": Pix2PixConfig(image_size=32, gen_filters=4, disc_filters=4, disc_layers=2,
                             dropout=0.0, batch_size=2, augment=False, jit_compile=False,
                             sample_images=2),
}


BFLOAT16 = dataclasses.replace(CASES["noise_gan"], mixed_precision="mixed_bfloat16")

# Data-parallel over two devices: a translation family, and the noise GAN, whose batch norm
# must see the global batch.
TWO_DEVICES = ("cyclegan", "noise_gan")


def _batch(name: str, config):
    size = config.image_size
    if name == "noise_gan":
        return random_images(2, size, seed=1)
    return random_images(2, size, seed=1), random_images(2, size, seed=2)


def _latents(config) -> np.ndarray:
    return np.random.default_rng(3).normal(size=(2, config.latent_dim)).astype("float32")


def _prepare(name, config, model):
    if name == "noise_gan":
        one_step.fix_latents(model, _latents(config))


def _jax_steps(folder) -> None:
    """In a JAX subprocess: each case's step on one device, then data-parallel on two."""
    run_python(f"""
        import json, pathlib
        import jax, keras, numpy as np
        from support import one_step
        from test_jax_step import BFLOAT16, CASES, TWO_DEVICES, _batch, _prepare
        folder = pathlib.Path({str(folder)!r})
        assert len(jax.devices()) == 2, jax.devices()
        two = keras.distribution.DataParallel(devices=jax.devices())
        for name, config in CASES.items():
            for label, distribution in (("one", None), ("two", two))[:1 + (name in TWO_DEVICES)]:
                model = one_step.build(config, distribution)
                one_step.load_weights(model, folder / name / "initial")
                _prepare(name, config, model)
                scope = distribution.scope() if distribution else None
                if scope:
                    scope.__enter__()
                logs = one_step.fit_one_step(model, _batch(name, config))
                if scope:
                    scope.__exit__(None, None, None)
                np.savez(folder / name / f"jax_{{label}}.npz", **one_step.state_of(model))
                (folder / name / f"jax_{{label}}_logs.json").write_text(json.dumps(logs))
        # The TPU kernel's policy: the same step under mixed_bfloat16.
        name, config = "noise_gan", BFLOAT16
        model = one_step.build(config)
        one_step.load_weights(model, folder / name / "initial")
        _prepare(name, config, model)
        logs = one_step.fit_one_step(model, _batch(name, config))
        np.savez(folder / name / "jax_bfloat16.npz", **one_step.state_of(model))
        (folder / name / "jax_bfloat16_logs.json").write_text(json.dumps(logs))
        dtypes = sorted({{layer.compute_dtype for layer in model.generator.layers[1:]}})
        (folder / name / "jax_bfloat16_dtypes.json").write_text(json.dumps(dtypes))
    """, backend="jax", devices=2)


@pytest.fixture(scope="module")
def steps(tmp_path_factory):
    """{case: {"initial", "tensorflow", "jax_one", "jax_two": states; "*_logs": logs}}."""
    import keras

    folder = tmp_path_factory.mktemp("jax_step")
    results = {}
    keras.utils.set_random_seed(20)  # the same starting weights on every run
    for name, config in CASES.items():
        model = one_step.build(config)
        one_step.save_weights(model, folder / name / "initial")
        initial = one_step.state_of(model)
        _prepare(name, config, model)
        logs = one_step.fit_one_step(model, _batch(name, config))
        results[name] = {"initial": initial, "tensorflow": one_step.state_of(model),
                         "tensorflow_logs": logs}
    _jax_steps(folder)
    for name in CASES:
        for label in ("one", "two")[:1 + (name in TWO_DEVICES)]:
            with np.load(folder / name / f"jax_{label}.npz") as arrays:
                results[name][f"jax_{label}"] = dict(arrays)
            results[name][f"jax_{label}_logs"] = json.loads(
                (folder / name / f"jax_{label}_logs.json").read_text())
    with np.load(folder / "noise_gan" / "jax_bfloat16.npz") as arrays:
        results["noise_gan"]["jax_bfloat16"] = dict(arrays)
    for kind in ("logs", "dtypes"):
        results["noise_gan"][f"jax_bfloat16_{kind}"] = json.loads(
            (folder / "noise_gan" / f"jax_bfloat16_{kind}.json").read_text())
    return results


@pytest.mark.parametrize("name", list(CASES))
def test_one_jax_step_equals_the_tensorflow_step(steps, name):
    result = steps[name]
    ours, theirs = result["tensorflow"], result["jax_one"]
    masks = one_step.gradient_masks(ours)
    masks.update({f"ema/{k.split('/')[1]}": m for k, m in masks.items()
                  if k.startswith(f"{GENERATOR[name]}/")})
    assert not one_step.compare(ours, theirs, TOLERANCE, masks=masks,
                                scales=one_step.optimizer_scales(ours))
    logs_tf, logs_jax = result["tensorflow_logs"], result["jax_one_logs"]
    assert logs_tf.keys() == logs_jax.keys()
    for key in logs_tf:
        assert logs_jax[key] == pytest.approx(logs_tf[key], rel=TOLERANCE, abs=1e-6), key
    # The step did something to compare: every network and optimizer moved.
    moved = one_step.compare(result["initial"], result["tensorflow"], 1e-7)
    for network in CASES_NETWORKS[name]:
        assert any(line.startswith(f"{network}/") for line in moved), network
        assert any(line.startswith(f"opt_{network}/") for line in moved), network


@pytest.mark.parametrize("name", TWO_DEVICES)
def test_two_jax_devices_equal_one(steps, name):
    result = steps[name]
    ours = result["jax_one"]
    masks = one_step.gradient_masks(ours)
    masks.update({f"ema/{k.split('/')[1]}": m for k, m in masks.items()
                  if k.startswith(f"{GENERATOR[name]}/")})
    assert not one_step.compare(ours, result["jax_two"], TOLERANCE, masks=masks,
                                scales=one_step.optimizer_scales(ours))


def test_the_generator_average_is_updated_inside_the_jax_step(steps):
    result = steps["cyclegan"]
    decay = CASES["cyclegan"].ema_decay
    generator = {k.split("/")[1]: v for k, v in result["jax_one"].items()
                 if k.startswith("gen_G/")}
    averages = {k.split("/")[1]: v for k, v in result["jax_one"].items() if k.startswith("ema/")}
    start = {k.split("/")[1]: v for k, v in result["initial"].items() if k.startswith("gen_G/")}
    assert averages.keys() == generator.keys()
    for index, average in averages.items():
        expected = decay * start[index] + (1 - decay) * generator[index]
        if np.issubdtype(average.dtype, np.floating):
            np.testing.assert_allclose(average, expected, atol=1e-6)


GENERATOR = {"cyclegan": "gen_G", "cut": "gen_G", "noise_gan": "generator",
             "pix2pix": "generator"}

CASES_NETWORKS = {
    "cyclegan": ("gen_G", "gen_F", "disc_X", "disc_Y"),
    "cut": ("gen_G", "disc_Y", "head"),
    "noise_gan": ("generator", "discriminator"),
    "pix2pix": ("generator", "discriminator"),
}


def test_cases_cover_every_family():
    from painter.families import FAMILIES

    assert set(CASES) == set(FAMILIES)
    assert all(dataclasses.is_dataclass(config) for config in CASES.values())


def test_a_mixed_bfloat16_jax_step_computes_in_bfloat16_and_keeps_float32_weights(steps):
    result = steps["noise_gan"]
    assert "bfloat16" in result["jax_bfloat16_dtypes"]
    state, full = result["jax_bfloat16"], result["jax_one"]
    moved = one_step.compare(result["initial"], state, 1e-7)
    for network in ("generator", "discriminator"):
        weights = [k for k in state if k.startswith(f"{network}/")]
        assert all(state[k].dtype == np.float32 and np.isfinite(state[k]).all() for k in weights)
        assert any(line.startswith(f"{network}/") for line in moved)
    # bfloat16 keeps 8 bits of mantissa: the losses agree with float32's to ~1%.
    for key, value in result["jax_one_logs"].items():
        assert result["jax_bfloat16_logs"][key] == pytest.approx(value, rel=3e-2, abs=1e-3), key
