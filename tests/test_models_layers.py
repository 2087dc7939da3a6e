"""Custom layers: values, config round trips, and a save→load of a model that uses them."""

import keras
import numpy as np
import pytest

from painter.models.layers import (
    LabColorTransfer,
    ReflectionPadding2D,
    ResidualOutput,
    ToneCurve,
    instance_norm,
)


def test_reflection_padding_matches_numpy_reflect():
    images = np.random.default_rng(0).normal(size=(2, 5, 7, 3)).astype("float32")
    padded = keras.ops.convert_to_numpy(ReflectionPadding2D((2, 3))(images))
    want = np.pad(images, [(0, 0), (2, 2), (3, 3), (0, 0)], mode="reflect")
    np.testing.assert_array_equal(padded, want)
    assert ReflectionPadding2D(3).compute_output_shape((None, 10, 12, 4)) == (None, 16, 18, 4)


def test_reflection_padding_rejects_bad_padding():
    with pytest.raises(ValueError, match=r"Received: padding=\(-1, -1\)"):
        ReflectionPadding2D(-1)


def test_residual_output_adds_and_clips():
    image = np.array([[0.5, -0.9, 0.0, 1.0]], "float32")
    residual = np.array([[0.25, -0.5, 2.0, 0.0]], "float32")
    out = keras.ops.convert_to_numpy(ResidualOutput()([image, residual]))
    np.testing.assert_allclose(out, [[0.75, -1.0, 1.0, 1.0]])
    with pytest.raises(ValueError, match="clip_min=1"):
        ResidualOutput(clip_min=1, clip_max=0)


def test_instance_norm_normalises_each_example_and_channel():
    x = np.random.default_rng(1).normal(3.0, 5.0, size=(2, 8, 8, 4)).astype("float32")
    layer = instance_norm("norm")
    y = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(y.mean(axis=(1, 2)), 0.0, atol=1e-4)
    np.testing.assert_allclose(y.std(axis=(1, 2)), 1.0, atol=1e-3)
    # Affine: a scale and an offset per channel, the 2-per-channel of the shape tests.
    assert layer.count_params() == 2 * 4


@pytest.mark.parametrize(
    "layer",
    [ReflectionPadding2D((1, 2), name="pad"), ResidualOutput(-0.5, 0.5, name="res"),
     ToneCurve(5, name="curve"), LabColorTransfer(2e-3, name="lab")],
)
def test_config_round_trip(layer):
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


def test_model_with_custom_layers_saves_and_loads(tmp_path):
    image = keras.Input((6, 6, 3))
    x = ReflectionPadding2D(1, name="pad")(image)
    x = keras.layers.Conv2D(3, 3, name="conv")(x)
    out = ResidualOutput(name="res")([ToneCurve(4, name="curve")(image), x])
    model = keras.Model(image, out)
    model.get_layer("curve").set_curve(np.linspace([-1, -0.5, -1], [1, 1, 0.5], 5))
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)  # no custom_objects: registered serializable
    images = np.random.default_rng(2).uniform(-1, 1, (2, 6, 6, 3)).astype("float32")
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded(images)), keras.ops.convert_to_numpy(model(images))
    )
    assert isinstance(loaded.get_layer("pad"), ReflectionPadding2D)


def test_tone_curve_interpolates_its_knots_and_extends_the_last_segment():
    layer = ToneCurve(4)
    knots = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    values = np.stack([knots**3, np.abs(knots) - 1, -knots], axis=1)
    layer.build((None, 3))
    layer.set_curve(values)
    x = np.linspace(-1, 1.2, 23, dtype="float32")[:, None].repeat(3, 1)
    out = keras.ops.convert_to_numpy(layer(x))
    inside = x[:, 0] <= 1
    for c in range(3):
        np.testing.assert_allclose(out[inside, c], np.interp(x[inside, c], knots, values[:, c]),
                                   atol=1e-6)
    slope = (values[-1] - values[-2]) / 0.5
    np.testing.assert_allclose(out[~inside], values[-1] + (x[~inside] - 1) * slope, atol=1e-5)
    with pytest.raises(ValueError, match=r"shape \(5, 3\)"):
        layer.set_curve(values[:4])
    with pytest.raises(ValueError, match="segments=0"):
        ToneCurve(0)


def _sample_photos(sample_dir, count=6):
    from painter.metrics.features import decoded_images

    return np.stack(list(decoded_images((sample_dir, "photo")))[:count])


def test_lab_color_transfer_is_the_color_match_baseline(sample_dir):
    from painter.submit.baselines import ColorStats, match_colors

    photos = _sample_photos(sample_dir)
    mean, std = np.array([55.0, 4.0, 12.0]), np.array([20.0, 8.0, 15.0])
    layer = LabColorTransfer()
    layer.build((None, 256, 256, 3))
    layer.set_target(mean, std)
    out = keras.ops.convert_to_numpy(layer(photos.astype("float32") / 127.5 - 1))
    ours = np.clip(np.rint((out + 1) * 127.5), 0, 255).astype(np.uint8)
    expected = match_colors(photos, ColorStats(mean=mean, std=std, space="lab", images=1))
    difference = np.abs(ours.astype(int) - expected.astype(int))
    # float32 formulas against the baseline's tables: the same image to a level or two
    assert difference.mean() < 0.05 and difference.max() <= 2
    assert np.abs(ours.astype(int) - photos.astype(int)).mean() > 5  # and it changed them


def test_lab_color_transfer_has_finite_gradients_at_the_extremes():
    import tensorflow as tf

    layer = LabColorTransfer()
    rng = np.random.default_rng(0)
    images = np.stack([
        rng.uniform(-1, 1, (8, 8, 3)),
        np.full((8, 8, 3), -1.0),  # black: every channel flat
        np.full((8, 8, 3), 1.0),  # white
        np.where(rng.uniform(size=(8, 8, 1)) > 0.5, 1.0, -1.0) * np.ones(3),  # grey levels only
    ]).astype("float32")
    x = tf.Variable(images)
    with tf.GradientTape() as tape:
        out = layer(x)
        loss = tf.reduce_sum(out * rng.normal(size=out.shape).astype("float32"))
    grads = tape.gradient(loss, [x, layer.target_mean, layer.target_std])
    assert all(np.isfinite(g.numpy()).all() for g in grads)
    assert np.abs(grads[1].numpy()).sum() > 0  # the target is learnable
    out = out.numpy()
    assert out.min() >= -1 and out.max() <= 1
    # A flat image keeps its lightness offset onto the target mean, with no division by 0.
    assert np.ptp(out[1].reshape(-1, 3), axis=0).max() < 1e-5
