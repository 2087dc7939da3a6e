"""VGG19 perceptual loss: ImageNet weights or a one-line WeightsError, never random weights.
Nothing here downloads: the weights are a local stand-in file or a missing one."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from painter.errors import WeightsError
from painter.models import perceptual
from painter.models.perceptual import (
    VGG19_WEIGHTS_FILE,
    WEIGHTS_PATH_ENV,
    perceptual_loss,
    vgg19_features,
)


@pytest.fixture(autouse=True)
def no_weights_env(monkeypatch):
    monkeypatch.delenv(WEIGHTS_PATH_ENV, raising=False)


@pytest.fixture(scope="module")
def stand_in_weights(tmp_path_factory):
    """A VGG19 (no top) weights file in the format of Keras' download, holding a random
    initialisation we can recognise after loading."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    vgg = keras.applications.VGG19(include_top=False, weights=None, input_shape=(None, None, 3))
    path = tmp_path_factory.mktemp("vgg") / VGG19_WEIGHTS_FILE
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, vgg)
    return path, vgg


def assert_one_line_how_to(error):
    message = str(error.value)
    assert "\n" not in message
    assert VGG19_WEIGHTS_FILE in message and "~/.keras/models/" in message
    assert WEIGHTS_PATH_ENV in message


def test_missing_weights_file_is_a_one_line_error(tmp_path):
    missing = tmp_path / "nowhere" / VGG19_WEIGHTS_FILE
    with pytest.raises(WeightsError, match="no such file") as error:
        vgg19_features(weights=missing)
    assert str(missing) in str(error.value)
    assert_one_line_how_to(error)


def test_env_var_points_to_the_weights(tmp_path, monkeypatch):
    missing = tmp_path / "env.h5"
    monkeypatch.setenv(WEIGHTS_PATH_ENV, str(missing))
    with pytest.raises(WeightsError, match="env.h5: no such file") as error:
        vgg19_features()
    assert_one_line_how_to(error)


def test_no_cache_and_no_network_is_a_one_line_error(monkeypatch):
    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://…: None -- [Errno -2] Name or service "
                        "not known\nsecond line")

    monkeypatch.setattr(perceptual.keras.utils, "get_file", offline)
    with pytest.raises(WeightsError, match="cannot be downloaded.*Errno -2") as error:
        vgg19_features()
    assert_one_line_how_to(error)


def test_a_foreign_file_does_not_pass_for_weights(tmp_path):
    bad = tmp_path / VGG19_WEIGHTS_FILE
    bad.write_text("<html>proxy login</html>")
    with pytest.raises(WeightsError, match="do not load") as error:
        vgg19_features(weights=bad)
    assert_one_line_how_to(error)


def test_unknown_layer_is_named():
    with pytest.raises(ValueError, match=r"'block6_conv1'"):
        vgg19_features(layers=("block1_conv1", "block6_conv1"))


@pytest.mark.slow
def test_features_use_the_given_weights_and_caffe_preprocessing(stand_in_weights):
    path, reference = stand_in_weights
    features = vgg19_features(weights=path)
    assert not features.trainable_weights
    images = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    maps = [keras.ops.convert_to_numpy(m) for m in features(images)]
    assert [m.shape for m in maps] == [
        (2, 32, 32, 64), (2, 16, 16, 128), (2, 8, 8, 256), (2, 4, 4, 512)
    ]
    # The file's weights, fed 0–255 BGR minus the ImageNet mean.
    caffe = ((images + 1.0) * 127.5)[..., ::-1] - np.array([103.939, 116.779, 123.68], "float32")
    probe = keras.Model(reference.input, reference.get_layer("block2_conv2").output)
    np.testing.assert_allclose(maps[1], keras.ops.convert_to_numpy(probe(caffe)),
                               rtol=1e-4, atol=1e-3)
    loss = keras.ops.convert_to_numpy(perceptual_loss(features, images, images[::-1]))
    assert loss.shape == (2,) and (loss > 0).all()
    same = keras.ops.convert_to_numpy(perceptual_loss(features, images, images))
    np.testing.assert_array_equal(same, [0.0, 0.0])


def test_perceptual_loss_averages_layers_and_stops_gradient_to_real():
    x = keras.Input((4, 4, 3))
    stand_in = keras.Model(x, [x, keras.layers.Rescaling(2.0)(x)])
    real = tf.zeros((2, 4, 4, 3))
    fake = tf.constant(np.stack([np.full((4, 4, 3), 0.5), np.zeros((4, 4, 3))]), tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([real, fake])
        loss = perceptual_loss(stand_in, real, fake)
    # Layer 1: |0.5 − 0| = 0.5; layer 2: |1 − 0| = 1; mean 0.75 for example 0, 0 for 1.
    np.testing.assert_allclose(loss.numpy(), [0.75, 0.0])
    assert tape.gradient(loss, real) is None
    assert np.abs(tape.gradient(loss, fake).numpy()).sum() > 0
