"""Shared fixtures. Real data lives in ../shared/data/gan-getting-started beside the
checkout; tests that need it skip with a reason when it is absent (a user's clone)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(
    os.environ.get("PAINTER_SHARED_DATA", REPO.parent / "shared" / "data" / "gan-getting-started")
)
SAMPLE = REPO / "painter" / "data" / "sample"


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
    from painter.config import CycleGANConfig
    from painter.train.run import train

    config = CycleGANConfig(
        image_size=32, gen_filters=4, residual_blocks=1, disc_filters=4, disc_layers=2,
        batch_size=2, epochs=1, decay_epochs=0, pool_size=0, diffaugment="", augment=False,
        jit_compile=False, sample_images=2, keep_checkpoints=1,
    )
    out = tmp_path_factory.mktemp("runs") / "tiny"
    train(config, data=sample_dir, out=out, steps_per_epoch=1, log=None, progress=False)
    return out
