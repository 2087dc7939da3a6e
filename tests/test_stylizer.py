"""The stylizer networks without their pretrained weights: shapes and parameter counts of
the real networks, the conditional instance norm's maths, save → load, one fit step, the
style helpers, the conversion's name mapping, and the errors of a missing weights file."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from painter.errors import WeightsError
from painter.models.stylizer import (
    STYLE_DIM,
    ConditionalInstanceNorm,
    Stylizer,
    blend_styles,
    style_input,
    style_predictor,
    style_transformer,
)
from painter.models.stylizer_convert import keras_layer_name


@pytest.fixture(scope="module")
def transformer():
    return style_transformer(weights=None)


@pytest.fixture(scope="module")
def predictor():
    return style_predictor(weights=None)


def test_predictor_is_mobilenet_v2_with_a_100_number_head(predictor):
    # keras.applications.MobileNetV2 (width 1.0) has 3,538,984 parameters; folding each of
    # its 17,056 batch-norm channels into a conv bias drops 3 per channel (γ, moving mean
    # and variance; β becomes the bias), and the ImageNet classifier (1,281,000) is gone:
    # 2,206,816. Then the 1280 → 100 style head (128,100).
    assert predictor.count_params() == 2_206_816 + 1280 * 100 + 100
    out = predictor(np.zeros((2, 256, 256, 3), "float32"))
    assert tuple(out.shape) == (2, STYLE_DIM)
    assert predictor.get_layer("expanded_conv_16_project").kernel.shape == (1, 1, 960, 320)
    assert predictor.get_layer("expanded_conv_1_depthwise").strides == (2, 2)


def test_transformer_widths_and_parameter_count(transformer):
    convs = 3 * 9 * 9 * 8 + 8 + 8 * 3 * 3 * 16 + 16 + 16 * 3 * 3 * 32 + 32  # contract, biased
    convs += 10 * 32 * 3 * 3 * 32 + 32 * 3 * 3 * 16 + 16 * 3 * 3 * 8 + 8 * 9 * 9 * 3
    norms = 10 * 32 + 16 + 8 + 3  # channels under conditional instance norm
    projections = 2 * norms * (STYLE_DIM + 1)  # γ and β, each a Dense from the style vector
    assert transformer.count_params() == convs + projections == 177_718


@pytest.mark.parametrize("size, expected", [((256, 256), (256, 256)), ((99, 97), (100, 100))])
def test_transformer_is_fully_convolutional(transformer, size, expected):
    content = np.random.default_rng(0).uniform(0, 1, (2, *size, 3)).astype("float32")
    out = keras.ops.convert_to_numpy(transformer([content, np.zeros((2, STYLE_DIM), "float32")]))
    assert out.shape == (2, *expected, 3)
    assert out.min() >= 0 and out.max() <= 1  # a sigmoid


def test_conditional_instance_norm_matches_numpy():
    rng = np.random.default_rng(0)
    x = rng.normal(2, 3, (2, 5, 4, 3)).astype("float32")
    gamma = rng.normal(1, 0.5, (2, 3)).astype("float32")
    beta = rng.normal(0, 1, (2, 3)).astype("float32")
    got = keras.ops.convert_to_numpy(ConditionalInstanceNorm(epsilon=1e-5)([x, gamma, beta]))
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    expected = gamma[:, None, None] * (x - mean) / np.sqrt(var + 1e-5) + beta[:, None, None]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    # Each image is normalised with its own γ, β: swapping the images swaps the outputs.
    swapped = ConditionalInstanceNorm()([x[::-1], gamma[::-1], beta[::-1]])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(swapped)[::-1], got, atol=1e-5)


def test_conditional_instance_norm_rejects_bad_epsilon():
    with pytest.raises(ValueError, match="epsilon=0"):
        ConditionalInstanceNorm(epsilon=0)


def test_transformer_save_load_round_trip(transformer, tmp_path):
    rng = np.random.default_rng(1)
    model = style_transformer(weights=None)
    for weight in model.weights:
        weight.assign(weight.numpy() + rng.normal(0, 0.05, weight.shape).astype("float32"))
    path = tmp_path / "style_transformer.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    assert loaded.get_layer("residual3_conv2_norm").get_config()["epsilon"] == 1e-5
    inputs = [rng.uniform(0, 1, (1, 36, 40, 3)).astype("float32"),
              rng.normal(0, 1, (1, STYLE_DIM)).astype("float32")]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(inputs)), keras.ops.convert_to_numpy(model(inputs)),
        atol=1e-6,
    )


@pytest.mark.slow
def test_one_fit_step_moves_the_transformer_and_its_style_projections():
    model = style_transformer(weights=None)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    rng = np.random.default_rng(2)
    content = rng.uniform(0, 1, (2, 32, 32, 3)).astype("float32")
    style = rng.normal(0, 1, (2, STYLE_DIM)).astype("float32")
    before = {w.path: w.numpy().copy() for w in model.trainable_weights}
    history = model.fit([content, style], content, epochs=1, batch_size=2, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    after = {w.path: w.numpy() for w in model.trainable_weights}
    for path in ("contract_conv1/kernel", "residual1_conv1_gamma/kernel", "expand_conv3_beta/bias"):
        assert not np.array_equal(before[path], after[path]), path


def test_blend_styles_moves_from_own_to_target():
    own, target = np.zeros((2, STYLE_DIM), "float32"), np.ones((2, STYLE_DIM), "float32") * 4
    for strength, value in ((0.0, 0.0), (0.5, 2.0), (1.0, 4.0), (0.25, 1.0)):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(blend_styles(own, target, strength)), value)


def test_style_input_takes_the_centre_square():
    images = np.zeros((1, 40, 60, 3), np.uint8)
    images[:, :, 10:50] = 255  # the centre 40×40 is white, the sides black
    square = keras.ops.convert_to_numpy(style_input(images, size=40))
    assert square.shape == (1, 40, 40, 3) and square.min() == 1.0
    assert keras.ops.convert_to_numpy(style_input(images, size=20)).shape == (1, 20, 20, 3)


def test_stylize_returns_the_input_size_for_any_size(monkeypatch):
    stylizer = Stylizer(weights=None, content_size=None)
    photo = np.random.default_rng(3).integers(0, 256, (30, 45, 3), dtype=np.uint8)
    out = stylizer.stylize(photo, np.zeros(STYLE_DIM, "float32"))
    assert out.shape == (1, 30, 45, 3) and out.dtype == np.float32
    resized = Stylizer(weights=None, content_size=64).paint(photo, np.zeros(STYLE_DIM), 0.5)
    assert resized.shape == (1, 30, 45, 3)
    with pytest.raises(ValueError, match="style"):
        stylizer.stylize(photo, np.zeros((2, STYLE_DIM)))


@pytest.mark.parametrize("scope, name", [
    ("MobilenetV2/Conv", "conv"),
    ("MobilenetV2/Conv_1", "conv_1"),
    ("MobilenetV2/expanded_conv/depthwise", "expanded_conv_depthwise"),
    ("MobilenetV2/expanded_conv_13/expand", "expanded_conv_13_expand"),
    ("mobilenet_conv/Conv", "mobilenet_conv"),
    ("transformer/contract/conv2", "contract_conv2"),
    ("transformer/residual/residual4/conv2", "residual4_conv2"),
    ("transformer/expand/conv3/conv", "expand_conv3"),
    ("style_params/transformer/residual/residual5/conv1/StyleNorm/Conv_1", "residual5_conv1_gamma"),
    ("style_params/transformer/expand/conv1/conv/StyleNorm/Conv", "expand_conv1_beta"),
])
def test_graph_scopes_map_to_layer_names(scope, name, predictor, transformer):
    assert keras_layer_name(scope) == name
    model = predictor if scope.split("/")[0] in ("MobilenetV2", "mobilenet_conv") else transformer
    assert model.get_layer(name).weights


def test_missing_weights_say_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("PAINTER_CACHE", str(tmp_path / "cache"))
    with pytest.raises(WeightsError, match="painter weights fetch stylizer"):
        style_transformer()
    junk = tmp_path / "junk.weights.h5"
    junk.write_bytes(b"not hdf5")
    with pytest.raises(WeightsError, match="junk.weights.h5"):
        style_predictor(weights=junk)
    with pytest.raises(ValueError, match="weights"):
        style_predictor(weights=3)
