"""The stylizer as gen_G's base (`base = "stylizer"`): `StyleMix`, the base's wiring, its
training state, checkpoints and config errors.

The networks are built with random weights (`weights=None`), so nothing here needs the
cached stylizer weights except the tests that say so.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import tiny_cyclegan
from painter.config import config_from_dict
from painter.errors import ConfigError
from painter.models.generators import (
    base_lr_multipliers,
    build_generator,
    start_stylizer_base,
    style_vectors,
    stylizer_painter,
    stylizer_parts,
)
from painter.models.layers import StyleMix

TINY = tiny_cyclegan(output="residual", base="stylizer", color_transfer="lab", identity_weight=0.5)
RNG = np.random.default_rng(0)


def _photos(n=2, size=32):
    return (RNG.integers(0, 256, (n, size, size, 3)) / 127.5 - 1).astype("float32")


def _random_bank(network, n=5):
    mix = stylizer_parts(network)[2]
    mix.set_styles(RNG.normal(size=(n, 100)).astype("float32"))
    return mix


# ---- StyleMix --------------------------------------------------------------------------


def test_style_mix_formula_and_content_choice():
    mix = StyleMix(bank_size=4, strength=0.25, seed=3)
    own = RNG.normal(size=(3, 100)).astype("float32")
    images = _photos(3, 8)
    mix([own, images])
    bank = RNG.normal(size=(3, 100)).astype("float32")
    mix.set_styles(bank)
    out = np.asarray(mix([own, images]))
    pixels = np.round((images + 1) * 127.5).astype(np.int64).sum(axis=(1, 2, 3))
    expected = own + 0.25 * (bank[(pixels + 3) % 3] - own)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    # The same photos get the same Monets, call after call.
    np.testing.assert_array_equal(out, np.asarray(mix([own, images])))


def test_style_mix_mean_and_random_draws_in_training():
    own = np.zeros((64, 100), "float32")
    images = _photos(64, 4)
    mean_mix = StyleMix(bank_size=10, strength=1.0, choice="mean")
    mean_mix([own, images])
    bank = RNG.normal(size=(4, 100)).astype("float32")
    mean_mix.set_styles(bank)
    np.testing.assert_allclose(np.asarray(mean_mix([own, images])), np.broadcast_to(bank.mean(0), (64, 100)),
                               atol=1e-5)
    mix = StyleMix(bank_size=10, strength=1.0, seed=1)
    mix([own, images])
    mix.set_styles(bank)
    drawn = np.asarray(mix([own, images], training=True))
    rows = {int(np.argmin(np.abs(bank - row).sum(1))) for row in drawn}
    assert rows == {0, 1, 2, 3}  # only the filled rows, and all of them over 64 draws
    again = np.asarray(mix([own, images], training=True))
    assert not np.array_equal(drawn, again)  # a stream, not a fixed choice


def test_style_mix_thins_a_large_bank_and_checks_shapes():
    mix = StyleMix(bank_size=3)
    mix([np.zeros((1, 100), "float32"), _photos(1, 4)])
    mix.set_styles(np.arange(10, dtype="float32")[:, None] * np.ones((1, 100), "float32"))
    assert float(mix.count.numpy()) == 3
    np.testing.assert_array_equal(mix.styles.numpy()[:, 0], [0, 4, 9])  # evenly spread
    with pytest.raises(ValueError, match="Received: shape"):
        mix.set_styles(np.zeros((2, 7), "float32"))
    with pytest.raises(ValueError, match="choice"):
        StyleMix(choice="median")


def test_style_mix_serializes():
    mix = StyleMix(bank_size=7, strength=0.3, choice="mean", seed=4, name="m")
    clone = StyleMix.from_config(mix.get_config())
    assert (clone.bank_size, clone.initial_strength, clone.choice, clone.seed) == (7, 0.3, "mean", 4)


# ---- the base in a generator -------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("order", ["stylize_first", "color_first"])
def test_untrained_generator_is_the_stylize_baseline(order):
    config = dataclasses.replace(TINY, base_order=order)
    generator = build_generator(config, "gen_G")
    painter = stylizer_painter(strength=0.25, color_transfer="lab",
                               order=order, image_size=32)
    for ours, theirs in zip(stylizer_parts(generator), stylizer_parts(painter)):
        theirs.set_weights(ours.get_weights())
    _random_bank(generator)
    stylizer_parts(painter)[2].set_weights(stylizer_parts(generator)[2].get_weights())
    photos = _photos(3)
    expected = np.asarray(painter(photos))
    np.testing.assert_allclose(np.asarray(generator(photos)), expected, atol=1e-5)
    # gen_F keeps the photo as its base: an untrained gen_F is the Lab transfer alone.
    gen_F = build_generator(config, "gen_F")
    assert not any("style" in layer.name for layer in gen_F.layers)


def test_style_vectors_are_the_predictor_on_unit_range_images():
    generator = build_generator(TINY, "gen_G")
    images = RNG.integers(0, 256, (3, 256, 256, 3)).astype("uint8")
    vectors = style_vectors(generator, images, batch=2)
    predictor = stylizer_parts(generator)[0]
    np.testing.assert_allclose(vectors, np.asarray(predictor(images.astype("float32") / 255.0)),
                               rtol=1e-4, atol=1e-4)


def _one_step(config):
    from painter.train.run import build_training_model

    model = build_training_model(config, 10, tf.distribute.get_strategy(), jit_compile=False)
    _random_bank(model.gen_G)
    model.run_eagerly = True
    model.make_train_function()
    batch = (_photos(2), _photos(2))
    before = {v.path: np.array(v.numpy()) for v in model.gen_G.weights}
    model.train_function(iter(tf.data.Dataset.from_tensors(batch).repeat()))
    after = {v.path: np.array(v.numpy()) for v in model.gen_G.weights}
    return model, before, after


@pytest.mark.slow
def test_frozen_transformer_is_bit_identical_after_a_step_and_strength_offset_learn():
    model, before, after = _one_step(TINY)
    predictor, transformer, mix = stylizer_parts(model.gen_G)
    for variable in predictor.weights + transformer.weights:
        np.testing.assert_array_equal(after[variable.path], before[variable.path], err_msg=variable.path)
    for variable in (mix.strength, mix.offset):  # gradients reach them
        assert not np.array_equal(after[variable.path], before[variable.path]), variable.path
    assert not np.array_equal(after[mix.styles.path], np.zeros_like(after[mix.styles.path]))


@pytest.mark.slow
def test_trainable_transformer_learns_at_its_multiplier():
    config = dataclasses.replace(TINY, base_trainable=True, base_lr_multiplier=0.1)
    model, before, after = _one_step(config)
    predictor, transformer, mix = stylizer_parts(model.gen_G)
    assert any(not np.array_equal(after[v.path], before[v.path]) for v in transformer.weights)
    for variable in predictor.weights:  # the predictor stays frozen
        np.testing.assert_array_equal(after[variable.path], before[variable.path])
    multipliers = base_lr_multipliers(model.gen_G, config)
    assert set(multipliers) == {v.path for v in transformer.trainable_variables} | {
        mix.strength.path, mix.offset.path}
    # Adam's first step moves a variable by about its learning rate: 0.1 × 2e-4 here.
    assert abs(after[mix.strength.path] - before[mix.strength.path]) < 0.1 * 2e-4 * 1.01
    assert isinstance(model.gen_G_optimizer, keras.optimizers.Adam)


def test_multiplied_adam_scales_the_step():
    from painter.train.schedules import adam

    steps = []
    for multipliers in (None, {"w": 0.25}):
        variable = keras.Variable(np.ones(3, "float32"), name="w")
        optimizer = adam(1e-2, 0.5, multipliers=multipliers and {variable.path: 0.25})
        optimizer.build([variable])
        optimizer.apply_gradients([(np.full(3, 5.0, "float32"), variable)])
        steps.append(1.0 - variable.numpy())
    np.testing.assert_allclose(steps[1], 0.25 * steps[0], rtol=1e-4)


def test_generator_with_the_base_saves_and_loads(tmp_path):
    generator = build_generator(TINY, "gen_G")
    mix = _random_bank(generator)
    mix.set_strength(0.7)
    mix.offset.assign(RNG.normal(size=100).astype("float32"))
    path = tmp_path / "gen_G.weights.h5"
    generator.save_weights(path)
    fresh = build_generator(TINY, "gen_G")
    fresh.load_weights(path)
    photos = _photos(2)
    np.testing.assert_array_equal(np.asarray(fresh(photos)), np.asarray(generator(photos)))
    assert float(stylizer_parts(fresh)[2].strength.numpy()) == pytest.approx(0.7)


@pytest.mark.slow
def test_checkpoint_of_a_stylizer_run_restores_the_base(tmp_path):
    from painter.train import checkpoints as ckpt

    model, _, _ = _one_step(TINY)
    path = ckpt.save_checkpoint(tmp_path, model, TINY, epoch=1, step_in_epoch=0, global_step=1,
                                metrics={})
    other, _, _ = _one_step(TINY)
    ckpt.restore_checkpoint(ckpt.read_checkpoint(path), other, TINY)
    for ours, theirs in zip(model.gen_G.weights, other.gen_G.weights):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=ours.path)
    with pytest.raises(Exception, match="base"):
        ckpt.check_compatible(ckpt.read_checkpoint(path), dataclasses.replace(TINY, base="photo"))


def test_start_measures_each_strength_and_keeps_the_lowest():
    config = dataclasses.replace(TINY, base_strengths="0.25,0.5,0.75")
    generator = build_generator(config, "gen_G")
    monets = RNG.integers(0, 256, (4, 64, 64, 3)).astype("uint8")
    seen = []

    def score(network):
        strength = float(stylizer_parts(network)[2].strength.numpy())
        seen.append(strength)
        return abs(strength - 0.5) + 100

    messages = []
    chosen = start_stylizer_base(generator, config, monets, score=score, weights=None,
                                 log=messages.append)
    assert seen == [0.25, 0.5, 0.75] and chosen == 0.5
    mix = stylizer_parts(generator)[2]
    assert float(mix.strength.numpy()) == 0.5 and float(mix.count.numpy()) == 4
    assert "strength 0.5, the lowest" in messages[-1]
    fixed = dataclasses.replace(config, base_strength=0.3)
    assert start_stylizer_base(generator, fixed, monets, score=score, weights=None, log=messages.append) == 0.3
    assert len(seen) == 3  # one configured strength: nothing to measure


# ---- config errors -------------------------------------------------------------------------


@pytest.mark.parametrize("values, message", [
    ({"base": "stylizer"}, 'needs output="residual"'),
    ({"base": "stylizer", "output": "residual", "base_order": "color_first"}, "needs color_transfer"),
    ({"base": "stylizer", "output": "residual", "base_strength": 1.5}, r"in \[0, 1\]"),
    ({"base": "stylizer", "output": "residual", "base_strengths": "0.2,x"}, "comma-separated"),
    ({"base": "stylizer", "output": "residual", "base_lr_multiplier": 0.0}, "base_lr_multiplier"),
    ({"base": "stylizer", "output": "residual", "tone_curve": 4, "tone_curve_init": "match"},
     "tone_curve_init"),
    ({"base": "painting"}, "'base' must be one of"),
    ({"base_style": "median"}, "'base_style' must be one of"),
])
def test_config_errors(values, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(values, source="x.toml")


def test_shipped_stylizer_proof_config_loads():
    from painter.config import load_config

    config = load_config("cpu_proof_stylizer")
    assert config.base == "stylizer" and config.starts_from_data and config.track_mifid


def test_run_start_measures_strengths_with_the_tracker_and_records_the_choice(sample_dir,
                                                                              stylizer_weights):
    """`CycleGANFamily.start_from_data`: the tracker scores each strength on its
    photos; the chosen one comes back in the config (config.toml records it)."""
    from types import SimpleNamespace

    from painter.families import FAMILIES

    config = dataclasses.replace(TINY, color_transfer="none", base_strengths="0.75,0.25")
    networks = SimpleNamespace(gen_G=build_generator(config, "gen_G"),
                               gen_F=build_generator(config, "gen_F"))
    scored = []

    class Tracker:
        def score(self, generator, image_size):
            strength = float(stylizer_parts(generator)[2].strength.numpy())
            scored.append((strength, image_size))
            return {"mifid": 100 + strength}

    training_photos = sorted((sample_dir / "photo_jpg").glob("*.jpg"))[:4]
    chosen = FAMILIES["cyclegan"].start_from_data(networks, config, sample_dir, tracker=Tracker(),
                                                  photos=training_photos, log=lambda m: None)
    assert scored == [(0.75, 32), (0.25, 32)]
    assert chosen.base_strength == 0.25 and chosen.base_strengths == config.base_strengths
    mix = stylizer_parts(networks.gen_G)[2]
    assert float(mix.strength.numpy()) == 0.25 and float(mix.count.numpy()) == 32
