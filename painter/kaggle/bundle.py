"""`painter kaggle bundle`: the two folders Kaggle needs to run painter offline.

    OUT_DIR/dataset/   a Kaggle dataset: the painter wheel, the converted FID Inception
                       weights (when cached), configs/*.toml, dataset-metadata.json
    OUT_DIR/kernel/    a Kaggle kernel: kernel-metadata.json and painter_kernel.py

Upload the dataset once (`painter kaggle push OUT_DIR`, or `kaggle datasets create -p
OUT_DIR/dataset`), then push the kernel; it installs the wheel with `pip install
--no-deps` over Kaggle's own TensorFlow/Keras and needs no internet.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import painter
from painter.config import CONFIG_DIR, load_config, resolve_config_path
from painter.errors import PainterError, UsageError
from painter.io import atomic_dir

COMPETITION = "gan-getting-started"
DATASET_SLUG = "painter-wheel"
KERNEL_SLUG = "painter-monet"
KERNEL_TITLE = "Painter Monet"  # Kaggle wants the title to slugify to the id's slug
KERNEL_FILE = "painter_kernel.py"
USERNAME_PLACEHOLDER = "your-kaggle-username"
KERNEL_TEMPLATE = Path(__file__).with_name("kernel_script.py")

# Kaggle's session limits are 12 h (GPU or CPU) and 9 h (TPU). The training budget leaves
# time for installing, writing 7,038 images and scoring them (minutes on an accelerator,
# about an hour on Kaggle's 4 CPU cores).
# `settings` are `painter train --set` overrides for the accelerator: a TPU v5e-8 has 8
# replicas, so the global batch must split 8 ways (the shipped configs' 4 does not), and
# both accelerators train in mixed precision (float16 with loss scaling on the T4s,
# bfloat16 on the TPU; losses stay float32). PAINTER_TRAIN_ARGS can override them again.
ACCELERATORS = {
    "gpu": {"enable_gpu": True, "enable_tpu": False, "machine_shape": "NvidiaTeslaT4",
            "time_budget": "10h30m", "settings": "mixed_precision=mixed_float16"},
    "tpu": {"enable_gpu": False, "enable_tpu": True, "machine_shape": "TpuV5E8",
            "time_budget": "7h30m", "settings": "batch_size=8 mixed_precision=mixed_bfloat16"},
    "none": {"enable_gpu": False, "enable_tpu": False, "machine_shape": None,
             "time_budget": "10h", "settings": ""},
}
_SOURCE_FILES = ("setup.cfg", "pyproject.toml", "setup.py", "README.md", "LICENSE", "MANIFEST.in")


@dataclasses.dataclass(frozen=True)
class Bundle:
    """What `build_bundle` wrote."""

    root: Path
    dataset: Path
    kernel: Path
    wheel: Path
    weights: Path | None
    config: str
    username: str


def kaggle_username() -> str | None:
    """The Kaggle user name from KAGGLE_USERNAME or kaggle.json, if either is there."""
    from painter.kaggle.client import credentials_file

    if os.environ.get("KAGGLE_USERNAME"):
        return os.environ["KAGGLE_USERNAME"]
    path = credentials_file()
    if path is not None:
        try:
            return json.loads(path.read_text()).get("username") or None
        except (OSError, ValueError):
            return None
    return None


def source_root() -> Path:
    """The source checkout painter runs from (the folder with setup.cfg).

    Raises:
        UsageError: painter is installed from a wheel, not run from a checkout.
    """
    root = Path(painter.__file__).resolve().parent.parent
    if not (root / "setup.cfg").is_file():
        raise UsageError(
            f"{root}: not a painter source checkout (no setup.cfg); "
            "build the bundle from a clone, or pass --wheel FILE"
        )
    return root


def build_wheel(out_dir: str | os.PathLike, source: str | os.PathLike | None = None) -> Path:
    """Builds the painter wheel into `out_dir` (pip wheel --no-deps) and returns its path.

    The sources are copied to a temporary folder first, so stale files in a `build/`
    folder of the checkout cannot slip into the wheel. The build uses the installed
    setuptools (no build isolation, so no network) when it is recent enough, else pip's
    isolated build.
    """
    source = Path(source) if source else source_root()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="painter-wheel-") as tmp:
        tree = Path(tmp) / "src"
        tree.mkdir()
        for name in _SOURCE_FILES:
            if (source / name).is_file():
                shutil.copy2(source / name, tree / name)
        shutil.copytree(
            source / "painter",
            tree / "painter",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*.tmp", "*.egg-info"),
        )
        built = Path(tmp) / "wheel"
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(built)]
        attempts = [command + ["--no-build-isolation", str(tree)], command + [str(tree)]]
        if not _setuptools_ok():
            attempts = attempts[1:]
        errors = []
        for attempt in attempts:
            done = subprocess.run(attempt, capture_output=True, text=True)
            wheels = sorted(built.glob("painter-*.whl"))
            if done.returncode == 0 and wheels:
                target = out_dir / wheels[-1].name
                shutil.copy2(wheels[-1], target)
                return target
            errors.append((done.stderr or done.stdout).strip().splitlines()[-1:] or ["?"])
        raise PainterError(f"building the painter wheel failed: {errors[-1][0]}")


def _setuptools_ok() -> bool:
    try:
        import setuptools
        import wheel  # noqa: F401  (bdist_wheel)
    except ImportError:
        return False
    major = int(re.match(r"\d+", setuptools.__version__).group())
    return major >= 64


def dataset_metadata(username: str) -> dict:
    """dataset-metadata.json of the painter dataset (private unless made public on upload)."""
    return {
        "title": "painter wheel",
        "id": f"{username}/{DATASET_SLUG}",
        "subtitle": "painter package wheel, configs and converted FID Inception weights",
        "description": (
            "The `painter` Python package as a wheel, for offline `pip install --no-deps` in "
            "Kaggle kernels of the gan-getting-started competition, with its configs and the "
            "FID Inception weights converted to Keras (from the pytorch FID port)."
        ),
        "licenses": [{"name": "other"}],
    }


def kernel_metadata(username: str, accelerator: str = "gpu") -> dict:
    """kernel-metadata.json of the painter kernel."""
    _check_accelerator(accelerator)
    settings = ACCELERATORS[accelerator]
    metadata = {
        "id": f"{username}/{KERNEL_SLUG}",
        "title": KERNEL_TITLE,
        "code_file": KERNEL_FILE,
        "language": "python",
        "kernel_type": "script",
        "is_private": True,
        "enable_gpu": settings["enable_gpu"],
        "enable_tpu": settings["enable_tpu"],
        "enable_internet": False,
        "dataset_sources": [f"{username}/{DATASET_SLUG}"],
        "competition_sources": [COMPETITION],
        "kernel_sources": [],
        "model_sources": [],
    }
    if settings["machine_shape"]:
        metadata["machine_shape"] = settings["machine_shape"]
    return metadata


def kernel_script(config: str = "cyclegan", accelerator: str = "gpu", time_budget: str | None = None) -> str:
    """The kernel's Python script: the template with CONFIG, TIME_BUDGET, ACCELERATOR and
    SETTINGS set."""
    _check_accelerator(accelerator)
    budget = time_budget or ACCELERATORS[accelerator]["time_budget"]
    settings = ACCELERATORS[accelerator]["settings"]
    text = KERNEL_TEMPLATE.read_text(encoding="utf-8")
    fills = (("CONFIG", config), ("TIME_BUDGET", budget), ("ACCELERATOR", accelerator),
             ("SETTINGS", settings))
    for key, value in fills:
        text, n = re.subn(rf'(?m)^{key} = ".*"$', f"{key} = {json.dumps(value)}", text, count=1)
        if n != 1:  # the template changed shape; better to fail than ship a wrong kernel
            raise RuntimeError(f"{KERNEL_TEMPLATE}: no `{key} = \"…\"` line to fill in")
    return text


def _check_accelerator(accelerator: str) -> None:
    if accelerator not in ACCELERATORS:
        raise UsageError(f"--accelerator {accelerator}: must be one of {', '.join(ACCELERATORS)}")


def _write_json(path: Path, value: dict) -> None:
    # UTF-8 without a BOM: Kaggle's client parses the file with json.load.
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_kernel_folder(
    folder: str | os.PathLike, *, config: str, accelerator: str, username: str,
    time_budget: str | None = None,
) -> Path:
    """Writes kernel-metadata.json and the script into `folder` (which must exist)."""
    folder = Path(folder)
    _write_json(folder / "kernel-metadata.json", kernel_metadata(username, accelerator))
    (folder / KERNEL_FILE).write_text(kernel_script(config, accelerator, time_budget), encoding="utf-8")
    return folder


def build_bundle(
    out_dir: str | os.PathLike,
    *,
    config: str = "cyclegan",
    accelerator: str = "gpu",
    time_budget: str | None = None,
    username: str | None = None,
    wheel: str | os.PathLike | None = None,
    weights: str | os.PathLike | None = None,
    force: bool = False,
    log=print,
) -> Bundle:
    """Builds OUT_DIR/dataset and OUT_DIR/kernel (see the module docstring).

    Args:
        out_dir: the folder to create.
        config: the config the kernel trains: a shipped name or a TOML path (copied into
            the dataset's configs/). Default "cyclegan".
        accelerator: "gpu", "tpu" or "none". Default "gpu".
        time_budget: the training budget. Default: per accelerator, below Kaggle's limit.
        username: the Kaggle user owning the dataset and kernel. Default: from
            KAGGLE_USERNAME or kaggle.json, else a placeholder to edit.
        wheel: a prebuilt painter wheel. Default: built from the source checkout.
        weights: the converted FID weights. Default: the cached file, when there is one.
        force: replace an existing `out_dir`. Default False.
        log: where messages go. Default print.
    """
    from painter.metrics.weights import fid_weights_path

    _check_accelerator(accelerator)
    config_path = resolve_config_path(config)
    load_config(config_path)  # a bad config fails here, not hours later on Kaggle
    config_name = config_path.stem
    if time_budget is not None:
        from painter.train.budget import parse_duration

        parse_duration(time_budget)  # UsageError on a bad string, before any work
    if wheel is not None and not Path(wheel).is_file():
        raise UsageError(f"{wheel}: no such wheel")
    if weights is not None and not Path(weights).is_file():
        raise UsageError(f"{weights}: no such weights file")
    username = username or kaggle_username()
    if not username:
        username = USERNAME_PLACEHOLDER
        log(f"no Kaggle user name found: edit '{USERNAME_PLACEHOLDER}' in the metadata or pass --username")

    out_dir = Path(out_dir)
    with atomic_dir(out_dir, force) as tmp:
        dataset = tmp / "dataset"
        kernel = tmp / "kernel"
        (dataset / "configs").mkdir(parents=True)
        kernel.mkdir()
        wheel_path = (
            Path(shutil.copy2(wheel, dataset / Path(wheel).name)) if wheel else build_wheel(dataset)
        )
        for shipped in sorted(CONFIG_DIR.glob("*.toml")):
            shutil.copy2(shipped, dataset / "configs" / shipped.name)
        shutil.copy2(config_path, dataset / "configs" / f"{config_name}.toml")
        source = Path(weights) if weights else fid_weights_path()
        weights_path = None
        if source.is_file():
            weights_path = dataset / "fid_inception.weights.h5"
            shutil.copy2(source, weights_path)
        else:
            log(f"no FID weights at {source} (`painter weights fetch`): the kernel will not score")
        _write_json(dataset / "dataset-metadata.json", dataset_metadata(username))
        write_kernel_folder(
            kernel, config=config_name, accelerator=accelerator, username=username,
            time_budget=time_budget,
        )
    bundle = Bundle(
        root=out_dir,
        dataset=out_dir / "dataset",
        kernel=out_dir / "kernel",
        wheel=out_dir / "dataset" / wheel_path.name,
        weights=out_dir / "dataset" / weights_path.name if weights_path else None,
        config=config_name,
        username=username,
    )
    log(f"dataset: {bundle.dataset} ({bundle.wheel.name}"
        f"{', FID weights' if bundle.weights else ''}, configs)")
    log(f"kernel:  {bundle.kernel} (trains {config_name} on {accelerator}, internet off)")
    return bundle
