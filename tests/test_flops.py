import keras

from painter.models.flops import model_flops, training_flops


def test_counts_conv_dense_and_transpose_by_hand():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="c")(inputs)  # 2·3·3·3·4·64
    x = keras.layers.Conv2D(5, 4, strides=2, padding="same", name="s")(x)  # 2·4·4·4·5·16
    x = keras.layers.Conv2DTranspose(2, 3, strides=2, padding="same", name="t")(x)  # 2·9·5·2·16
    x = keras.layers.SpectralNormalization(keras.layers.Conv2D(1, 1), name="sn")(x)  # 2·2·1·64
    y = keras.layers.Dense(7, name="d")(keras.layers.Flatten()(x))  # 2·64·7
    model = keras.Model(inputs, y)
    expected = 2 * (3 * 3 * 3 * 4 * 64 + 4 * 4 * 4 * 5 * 16 + 9 * 5 * 2 * 16 + 2 * 1 * 64 + 64 * 7)
    assert model_flops(model) == expected
    assert training_flops(model) == 3 * expected


def test_nested_models_are_counted():
    inner_in = keras.Input((4, 4, 2))
    inner = keras.Model(inner_in, keras.layers.Conv2D(3, 1)(inner_in), name="inner")
    outer_in = keras.Input((4, 4, 2))
    outer = keras.Model(outer_in, inner(outer_in))
    assert model_flops(outer) == model_flops(inner) == 2 * 2 * 3 * 16


def test_a_nested_fully_convolutional_model_counts_at_the_size_it_is_called_with():
    inner_in = keras.Input((None, None, 2))
    inner = keras.Model(inner_in, keras.layers.Conv2D(3, 1)(inner_in), name="inner")
    outer_in = keras.Input((4, 4, 2))
    outer = keras.Model(outer_in, keras.layers.Conv2D(1, 1)(inner(outer_in)))
    assert model_flops(outer) == 2 * 2 * 3 * 16 + 2 * 3 * 1 * 16
