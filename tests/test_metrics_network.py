"""The FID Inception's pieces that need no weights: the legacy resize, the layout, the
TorchScript reader's refusals and the weight mapping."""

from __future__ import annotations

import pickle
import zipfile
from collections import Counter

import keras
import numpy as np
import pytest
import tensorflow as tf

from painter.errors import WeightsError
from painter.metrics.inception import (
    FID_FEATURES,
    InceptionScale,
    LegacyBilinearResize,
    fid_inception,
)
from painter.metrics.torchscript import load_torchscript_tensors
from painter.metrics.inception_convert import assign_torchscript_weights


@pytest.mark.parametrize(
    "in_hw, out_hw",
    [((5, 7), (3, 11)), ((8, 8), (11, 13)), ((13, 6), (4, 4)), ((16, 16), (19, 19))],
)
def test_legacy_resize_equals_tf1_resize_bilinear(in_hw, out_hw):
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, size=(2, *in_hw, 3)).astype(np.float32)
    expected = tf.compat.v1.image.resize_bilinear(
        images, out_hw, align_corners=False, half_pixel_centers=False
    ).numpy()
    got = keras.ops.convert_to_numpy(LegacyBilinearResize(out_hw)(images))
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)
    # And not the modern (half-pixel) resize, which Kaggle's graph does not use.
    modern = tf.image.resize(images, out_hw, method="bilinear").numpy()
    assert np.abs(modern - expected).max() > 1e-2


def test_legacy_resize_256_to_299_on_uint8():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(1, 256, 256, 3), dtype=np.uint8)
    expected = tf.compat.v1.image.resize_bilinear(
        images, (299, 299), align_corners=False, half_pixel_centers=False
    ).numpy()
    got = keras.ops.convert_to_numpy(LegacyBilinearResize()(images))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)


def test_legacy_resize_keeps_an_image_already_at_size():
    images = np.random.default_rng(2).uniform(0, 255, size=(1, 9, 9, 3)).astype(np.float32)
    got = keras.ops.convert_to_numpy(LegacyBilinearResize((9, 9))(images))
    np.testing.assert_array_equal(got, images)


def test_scale_maps_0_255_to_graph_range():
    got = keras.ops.convert_to_numpy(InceptionScale()(np.array([0.0, 128.0, 255.0])))
    np.testing.assert_array_equal(got, [-1.0, 0.0, 127 / 128])


def test_resize_rejects_bad_size():
    with pytest.raises(ValueError, match="Received: size="):
        LegacyBilinearResize((0, 5))


def test_custom_layers_save_and_load(tmp_path):
    inputs = keras.Input((None, None, 3))
    outputs = InceptionScale(name="scale")(LegacyBilinearResize((5, 6), name="resize")(inputs))
    model = keras.Model(inputs, outputs)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = np.random.default_rng(3).uniform(0, 255, size=(1, 7, 4, 3)).astype(np.float32)
    assert loaded.get_layer("resize").size == (5, 6)
    np.testing.assert_array_equal(loaded.predict_on_batch(x), model.predict_on_batch(x))


@pytest.fixture(scope="module")
def core_network_and_tensors():
    model = fid_inception(weights=None, preprocessing=False)
    return model, _fake_torchscript_tensors(model)


def test_network_layout_matches_the_fid_graph(core_network_and_tensors):
    model, _ = core_network_and_tensors
    # pool_3 of the 2015-12-05 graph: 2048 features; 21,802,784 numbers in the
    # TorchScript archive (conv kernels + β, mean, var per unit; no logits layer).
    assert model.output_shape == (None, FID_FEATURES)
    assert model.count_params() == 21_802_784
    assert len([l for l in model.layers if isinstance(l, keras.layers.Conv2D)]) == 94
    assert model.get_layer("mixed_10").output.shape[1:] == (8, 8, 2048)
    assert model.get_layer("mixed_7").output.shape[1:] == (17, 17, 768)
    # The quirk of the FID graph: mixed_10's pool branch is a max pool, mixed_9's an average.
    assert isinstance(model.get_layer("mixed_10_tower_2_pool"), keras.layers.MaxPooling2D)
    assert isinstance(model.get_layer("mixed_9_tower_2_pool"), keras.layers.AveragePooling2D)
    bn = model.get_layer("mixed_3_conv_bn")
    assert bn.epsilon == 1e-3 and not bn.scale and bn.center


def _fake_torchscript_tensors(model):
    """A stand-in for the archive's tensors, made from the Keras layout itself."""
    rng = np.random.default_rng(5)
    tensors = {}
    for layer in model.layers:
        if not isinstance(layer, keras.layers.Conv2D):
            continue
        # Dot-free paths map onto themselves (the real names are covered by the parity
        # test, which converts the real archive).
        prefix = "net.layers." + layer.name
        kh, kw, cin, cout = layer.kernel.shape
        tensors[f"{prefix}.weight"] = rng.normal(size=(cout, cin, kh, kw)).astype(np.float32)
        for key in ("beta", "mean", "var"):
            tensors[f"{prefix}.{key}"] = rng.uniform(0.1, 1, size=cout).astype(np.float32)
        tensors[f"{prefix}.stride"] = layer.strides[0]
        pad = [(kh - 1) // 2, (kw - 1) // 2] if layer.padding == "same" else 0
        tensors[f"{prefix}.padding"] = pad
    return tensors


def test_weight_mapping_copies_every_unit(core_network_and_tensors):
    model, tensors = core_network_and_tensors
    assert assign_torchscript_weights(model, tensors) == 94
    weight = tensors["net.layers.mixed_4_tower_conv_1.weight"]  # (O, I, 1, 7)
    kernel = keras.ops.convert_to_numpy(model.get_layer("mixed_4_tower_conv_1").kernel)
    np.testing.assert_array_equal(kernel, weight.transpose(2, 3, 1, 0))
    beta, mean, var = model.get_layer("mixed_4_tower_conv_1_bn").get_weights()
    np.testing.assert_array_equal(mean, tensors["net.layers.mixed_4_tower_conv_1.mean"])


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda t: t.__setitem__("net.layers.mixed_3_conv.stride", 1), "stride 1"),
        (lambda t: t.__setitem__("net.layers.conv_2.padding", 0), "padding"),
        (lambda t: t.pop("net.layers.mixed_9_tower_conv.weight"), "no weights for layers"),
        (lambda t: t.__setitem__("net.layers.extra.weight", np.ones((1, 1, 1, 1))), "no Keras"),
        (
            lambda t: t.__setitem__("net.layers.conv.weight", np.ones((32, 3, 5, 5), np.float32)),
            "shape",
        ),
    ],
)
def test_weight_mapping_refuses_another_layout(change, message, core_network_and_tensors):
    model, tensors = core_network_and_tensors
    tensors = dict(tensors)
    change(tensors)
    with pytest.raises(WeightsError, match=message):
        assign_torchscript_weights(model, tensors)


def _zip_with_pickle(path, payload: bytes):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", payload)
        zf.writestr("archive/version", "3\n")


def test_torchscript_reader_refuses_foreign_globals(tmp_path):
    path = tmp_path / "evil.pt"
    _zip_with_pickle(path, pickle.dumps(Counter(a=1), protocol=2))
    with pytest.raises(WeightsError, match="refusing to load global collections.Counter"):
        load_torchscript_tensors(path)


def test_torchscript_reader_refuses_non_archives(tmp_path):
    not_zip = tmp_path / "plain.pt"
    not_zip.write_bytes(b"not a zip")
    with pytest.raises(WeightsError, match="not a TorchScript archive"):
        load_torchscript_tensors(not_zip)
    empty = tmp_path / "empty.pt"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("x.txt", "hello")
    with pytest.raises(WeightsError, match="no <root>/data.pkl"):
        load_torchscript_tensors(empty)
