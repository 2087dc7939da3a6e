"""Generators at tiny widths: structure, options (upsample, output, residual_scale), errors."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import layers_of, random_images, tiny_cyclegan
from painter.models.generators import (
    GENERATORS,
    build_generator,
    resnet_generator,
    unet_generator,
)
from painter.models.layers import ReflectionPadding2D

TINY = tiny_cyclegan(residual_blocks=2)


def numpy(x):
    return keras.ops.convert_to_numpy(x)


def test_resnet_follows_zhu_et_al():
    model = resnet_generator(TINY, name="gen_F")
    assert model.name == "gen_F"
    assert model.input_shape == model.output_shape == (None, 32, 32, 3)
    convs = layers_of(model, keras.layers.Conv2D)
    # c7s1-4, d8, d16, 2 blocks × 2 convs of 16, u8, u4 (transposed), c7s1-3.
    assert [(c.filters, c.kernel_size[0], c.strides[0]) for c in convs] == (
        [(4, 7, 1), (8, 3, 2), (16, 3, 2)] + [(16, 3, 1)] * 4 + [(3, 7, 1)]
    )
    assert [c.filters for c in layers_of(model, keras.layers.Conv2DTranspose)] == [8, 4]
    assert len(layers_of(model, ReflectionPadding2D)) == 2 + 2 * TINY.residual_blocks
    norms = layers_of(model, keras.layers.GroupNormalization)
    # groups=-1 resolves to one group per channel: instance norm.
    assert all(n.groups == n.output.shape[-1] for n in norms)
    assert len(norms) == 5 + 2 * TINY.residual_blocks
    assert model.get_layer("gen_F_res2_conv2").filters == 16  # stable layer names
    out = numpy(model(random_images(2, 32) * 50))  # tanh keeps even wild inputs in range
    assert out.shape == (2, 32, 32, 3) and np.abs(out).max() <= 1.0


@pytest.mark.parametrize("blocks", [0, 3])
def test_resnet_residual_blocks_is_used(blocks):
    model = resnet_generator(dataclasses.replace(TINY, residual_blocks=blocks))
    adds = [layer for layer in model.layers if layer.name.endswith("_add")]
    assert len(adds) == blocks


def test_gen_filters_is_ngf():
    model = resnet_generator(dataclasses.replace(TINY, gen_filters=6))
    assert model.get_layer("gen_G_stem_conv").filters == 6
    assert model.get_layer("gen_G_res1_conv1").filters == 24
    unet = unet_generator(dataclasses.replace(TINY, gen_filters=6))
    assert unet.get_layer("gen_G_down1_conv").filters == 6
    assert unet.get_layer("gen_G_down4_conv").filters == 48


@pytest.mark.parametrize("size, levels", [(32, 5), (64, 6), (128, 7)])
def test_unet_levels_reach_1x1(size, levels):
    model = unet_generator(dataclasses.replace(TINY, image_size=size, gen_filters=2))
    downs = [l for l in model.layers if l.name.endswith("_conv") and "_down" in l.name]
    assert len(downs) == levels
    assert downs[-1].output.shape[1:3] == (1, 1)
    ups = layers_of(model, keras.layers.Conv2DTranspose)
    assert len(ups) == levels  # levels − 1 up blocks and the head
    # Dropout 0.5 in the first 3 up blocks only.
    dropouts = layers_of(model, keras.layers.Dropout)
    assert [d.name for d in dropouts] == [f"gen_G_up{i}_dropout" for i in (1, 2, 3)]
    assert all(d.rate == 0.5 for d in dropouts)
    # Skips: each up block is concatenated with the down block of its size.
    concat = model.get_layer("gen_G_up1_concat")
    assert concat.output.shape[1:3] == (2, 2)
    # No instance norm on a 1×1 map (it would output a constant).
    assert "gen_G_down1_norm" not in [l.name for l in model.layers]
    assert f"gen_G_down{levels}_norm" not in [l.name for l in model.layers]


def test_unet_dropout_only_when_training():
    model = unet_generator(TINY)
    x = random_images(2, 32)
    np.testing.assert_array_equal(numpy(model(x)), numpy(model(x)))
    assert not np.allclose(numpy(model(x, training=True)), numpy(model(x, training=True)))


@pytest.mark.parametrize("kind", ["resnet", "unet"])
def test_resize_upsample_has_no_transposed_convs(kind):
    config = dataclasses.replace(TINY, generator=kind, upsample="resize")
    model = build_generator(config, "gen_G")
    assert not layers_of(model, keras.layers.Conv2DTranspose)
    resizes = layers_of(model, keras.layers.UpSampling2D)
    assert resizes and all(r.interpolation == "bilinear" for r in resizes)
    transpose = build_generator(dataclasses.replace(config, upsample="transpose"), "gen_G")
    assert len(resizes) == len(layers_of(transpose, keras.layers.Conv2DTranspose))
    assert numpy(model(random_images(2, 32))).shape == (2, 32, 32, 3)


RESIDUAL_VARIANTS = [
    dict(generator="resnet", upsample="transpose"),
    dict(generator="resnet", upsample="resize"),
    dict(generator="unet", upsample="transpose"),
    dict(generator="unet", upsample="resize"),
    dict(generator="resnet", upsample="resize", residual_scale=16),
    dict(generator="unet", upsample="transpose", residual_scale=8),
    dict(generator="resnet", upsample="resize", residual_scale=16, tone_curve=16),
]


@pytest.mark.parametrize("variant", RESIDUAL_VARIANTS, ids=str)
def test_untrained_residual_generator_returns_its_input_exactly(variant):
    model = build_generator(dataclasses.replace(TINY, output="residual", **variant), "gen_G")
    x = random_images(2, 32)
    # Exact, but for the float rounding of a tone curve's sum of segments.
    atol = 1e-6 if variant.get("tone_curve") else 0
    np.testing.assert_allclose(numpy(model(x, training=True)), x, rtol=0, atol=atol)


def test_residual_generator_learns_away_from_identity():
    model = build_generator(dataclasses.replace(TINY, output="residual"), "gen_G")
    x = random_images(2, 32)
    optimizer = keras.optimizers.Adam(1e-2)
    for _ in range(2):  # the first step can only move the zero-initialised head conv
        with tf.GradientTape() as tape:
            loss = keras.ops.mean(keras.ops.abs(model(x, training=True)))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
    moved = numpy(model(x))
    assert np.abs(moved - x).mean() > 1e-3
    assert np.abs(moved).max() <= 1.0  # clipped to the image range


def test_residual_scale_runs_small_and_keeps_full_size_detail():
    config = dataclasses.replace(TINY, output="residual", residual_scale=16, upsample="resize")
    model = resnet_generator(config)
    assert model.get_layer("gen_G_stem_pad").output.shape[1:3] == (22, 22)  # 16 + 2·3
    assert model.output_shape == (None, 32, 32, 3)
    # Give the residual branch non-zero weights, as after training.
    head = model.get_layer("gen_G_head_conv")
    rng = np.random.default_rng(3)
    head.set_weights([rng.normal(0, 0.01, w.shape).astype("float32") for w in head.get_weights()])
    x = random_images(2, 32) * 0.2  # far enough from ±1 that nothing is clipped
    # Detail that averages out over each 2×2 cell is invisible to the network, so the
    # generator passes it through to the output unchanged.
    detail = np.tile(np.array([[0.1, -0.1], [-0.1, 0.1]], "float32")[..., None], (16, 16, 3))
    diff = numpy(model(x + detail)) - numpy(model(x))
    np.testing.assert_allclose(diff, np.broadcast_to(detail, diff.shape), atol=1e-5)
    assert np.abs(numpy(model(x)) - x).max() > 1e-3  # …while the network does change it


@pytest.mark.slow  # 30 eager training steps
def test_tone_curve_is_a_learned_per_channel_curve_under_the_residual():
    config = dataclasses.replace(TINY, output="residual", residual_scale=16)
    plain = resnet_generator(config)
    model = resnet_generator(dataclasses.replace(config, tone_curve=8))
    assert model.count_params() - plain.count_params() == 3 + 8 * 3  # start + slopes
    curve = model.get_layer("gen_G_tone_curve")
    assert curve.knots() == pytest.approx(np.linspace(-1, 1, 9))
    # Any curve through its knots: a gamma on red, green inverted, blue untouched.
    knots = np.array(curve.knots())
    values = np.stack([np.sign(knots) * np.abs(knots) ** 0.5, -knots, knots], axis=1)
    curve.set_curve(values)
    x = random_images(2, 32)
    expected = np.stack(
        [np.interp(x[..., c], knots, values[:, c]) for c in range(3)], axis=-1
    )
    np.testing.assert_allclose(numpy(model(x)), expected, atol=1e-5)  # residual still zero
    # A colour cast is learned by the curve's parameters in a few steps.
    curve.set_curve(np.stack([knots] * 3, axis=1))
    optimizer = keras.optimizers.Adam(1e-2)
    target = np.clip(x * 0.8 + np.array([0.2, 0.1, -0.1], "float32"), -1, 1)
    losses = []
    for _ in range(30):
        with tf.GradientTape() as tape:
            loss = keras.ops.mean(keras.ops.abs(model(x, training=True) - target))
        grads = tape.gradient(loss, [curve.start, curve.slopes])
        optimizer.apply(grads, [curve.start, curve.slopes])
        losses.append(float(loss))
    assert losses[-1] < 0.3 * losses[0]


def test_color_transfer_start_is_the_lab_transfer_of_the_input():
    from painter.models.layers import LabColorTransfer

    config = dataclasses.replace(TINY, output="residual", residual_scale=16, color_transfer="lab")
    model = resnet_generator(config)
    plain = resnet_generator(dataclasses.replace(config, color_transfer="none"))
    assert model.count_params() - plain.count_params() == 6  # target mean and std
    layer = model.get_layer("gen_G_color_transfer")
    layer.set_target([60.0, -2.0, 20.0], [15.0, 5.0, 10.0])
    reference = LabColorTransfer()
    reference.build((None, 3))
    reference.set_target([60.0, -2.0, 20.0], [15.0, 5.0, 10.0])
    x = random_images(2, 32)
    np.testing.assert_allclose(numpy(model(x)), numpy(reference(x)), atol=1e-6)  # residual zero
    # With a tone curve after it, the curve starts as the identity.
    curved = resnet_generator(dataclasses.replace(config, tone_curve=8))
    curved.get_layer("gen_G_color_transfer").set_target([60.0, -2.0, 20.0], [15.0, 5.0, 10.0])
    np.testing.assert_allclose(numpy(curved(x)), numpy(reference(x)), atol=1e-5)


@pytest.mark.parametrize(
    "changes, match",
    [
        (dict(color_transfer="lab"), r"color_transfer='lab', output='tanh'"),
        (dict(output="residual", color_transfer="lab", tone_curve=8, tone_curve_init="match"),
         r"cannot follow `color_transfer`"),
        (dict(tone_curve=16), r"Received: tone_curve=16, output='tanh'"),
        (dict(output="residual", tone_curve=-1), r"Received: tone_curve=-1"),
        (dict(residual_scale=16), r"Received: residual_scale=16, output='tanh'"),
        (dict(output="residual", residual_scale=12), r"residual_scale=12, image_size=32"),
        (dict(output="residual", residual_scale=32), r"residual_scale=32, image_size=32"),
        (dict(residual_scale=-1), r"Received: residual_scale=-1"),
        (dict(upsample="nearest"), r"Received: upsample='nearest'"),
        (dict(output="sigmoid"), r"Received: output='sigmoid'"),
        (dict(gen_filters=0), r"Received: gen_filters=0"),
        (dict(residual_blocks=-1), r"Received: residual_blocks=-1"),
        (dict(image_size=30), r"image_size=30"),
    ],
)
def test_resnet_rejects_bad_config(changes, match):
    with pytest.raises(ValueError, match=match):
        resnet_generator(dataclasses.replace(TINY, **changes))


@pytest.mark.parametrize("size", [48, 4])
def test_unet_needs_a_power_of_two(size):
    with pytest.raises(ValueError, match=f"image_size={size}"):
        unet_generator(dataclasses.replace(TINY, image_size=size))


def test_build_generator_picks_by_name():
    assert set(GENERATORS) == {"resnet", "unet"}
    for kind in GENERATORS:
        model = build_generator(dataclasses.replace(TINY, generator=kind), "gen_F")
        assert model.name == "gen_F"
        assert any(l.name == "gen_F_down1_conv" for l in model.layers)
    assert "gen_F_res1_conv1" in [l.name for l in build_generator(TINY, "gen_F").layers]
    with pytest.raises(ValueError, match=r"Received: generator='vgg'"):
        build_generator(dataclasses.replace(TINY, generator="vgg"), "gen_G")


def test_mixed_precision_outputs_float32():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        for config in (TINY, dataclasses.replace(TINY, generator="unet", output="residual")):
            model = build_generator(config, "gen_G")
            assert model.get_layer("gen_G_stem_conv" if config.generator == "resnet"
                                   else "gen_G_down1_conv").compute_dtype == "float16"
            out = model(random_images(2, 32))
            assert keras.backend.standardize_dtype(out.dtype) == "float32"
        # The residual output is still the exact input: float32 image + a float16 zero.
        np.testing.assert_array_equal(numpy(model(random_images(2, 32))), random_images(2, 32))
    finally:
        keras.config.set_dtype_policy(previous)
