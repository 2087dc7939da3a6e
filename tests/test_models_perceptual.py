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


# ---- the stylizer's encoder: the perceptual network that works offline -----------------


@pytest.fixture(scope="module")
def stylizer_net(stylizer_weights):
    from painter.models.perceptual import stylizer_features

    return stylizer_features()


def _sample_photos(size: int = 64, count: int = 2) -> list:
    from PIL import Image

    from painter.data import SAMPLE_ROOT

    files = sorted((SAMPLE_ROOT / "photo_jpg").iterdir())[:count]
    return [Image.open(f).convert("RGB").resize((size, size), Image.LANCZOS) for f in files]


def _to_net(images) -> np.ndarray:
    return np.stack([np.asarray(i, np.float32) / 127.5 - 1.0 for i in images])


def test_stylizer_loss_is_zero_for_the_same_images_and_grows_with_blur(stylizer_net):
    from PIL import ImageFilter

    photos = _sample_photos()
    real = _to_net(photos)
    same = keras.ops.convert_to_numpy(perceptual_loss(stylizer_net, real, real.copy()))
    np.testing.assert_array_equal(same, [0.0, 0.0])
    losses = []
    for radius in (0.5, 1, 2, 4):
        blurred = _to_net([p.filter(ImageFilter.GaussianBlur(radius)) for p in photos])
        losses.append(keras.ops.convert_to_numpy(perceptual_loss(stylizer_net, real, blurred)))
    losses = np.array(losses)  # (radius, photo)
    assert (losses[0] > 0).all()
    assert (np.diff(losses, axis=0) > 0).all(), losses  # each photo's loss, radius by radius


def test_stylizer_features_are_frozen_and_multi_scale(stylizer_net):
    assert not stylizer_net.trainable_weights and stylizer_net.weights
    maps = stylizer_net(np.zeros((1, 64, 64, 3), "float32"))
    assert [tuple(m.shape) for m in maps] == [
        (1, 32, 32, 16), (1, 16, 16, 24), (1, 8, 8, 32), (1, 4, 4, 96)
    ]


def test_the_stylizer_loss_reaches_the_generator(stylizer_weights):
    """A tiny CycleGAN with `perceptual_network = "stylizer"`: the loss's gradient is
    nonzero on gen_G's weights, and a training step logs it."""
    from conftest import tiny_cyclegan
    from painter.train.cyclegan import build_cyclegan, compile_cyclegan

    config = tiny_cyclegan(perceptual_weight=1.0, perceptual_network="stylizer")
    model = build_cyclegan(config)
    real = _to_net(_sample_photos(size=32))
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(
            perceptual_loss(model.perceptual_features, real, model.gen_G(real, training=True))
        )
    gradients = tape.gradient(loss, model.gen_G.trainable_variables)
    kernels = [g for g, v in zip(gradients, model.gen_G.trainable_variables) if "kernel" in v.path]
    assert kernels and all(g is not None and np.abs(g.numpy()).sum() > 0 for g in kernels)
    compile_cyclegan(model, config, steps_per_epoch=1, jit_compile=False)
    logs = model.train_step((tf.constant(real), tf.constant(real[::-1])))  # eager: no tracing
    assert float(logs["perceptual_loss"]) > 0


def test_missing_stylizer_weights_are_the_one_weights_not_found_error(empty_cache):
    from painter.models.perceptual import perceptual_features

    with pytest.raises(WeightsError) as error:
        perceptual_features("stylizer")
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith('perceptual_network = "stylizer": stylizer weights not found at ')
    assert str(empty_cache) in message and "painter weights fetch stylizer" in message
