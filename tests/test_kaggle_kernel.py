"""The Kaggle kernel end to end, offline: `painter kaggle bundle` → the kernel script run
with Kaggle's paths mapped into a temporary folder → images.zip checked.

The script installs the freshly built wheel with `pip install --no-deps --target` (so the
test's own editable install stays untouched), trains a tiny config for one step on the
embedded sample, writes 7,000 images (32 photos and their variants) and checks them. No
FID weights are bundled (an empty PAINTER_CACHE), so the scoring step is skipped; the
scorer has its own tests.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

TINY_CONFIG = """\
family = "cyclegan"
image_size = 32
gen_filters = 4
residual_blocks = 1
disc_filters = 4
disc_layers = 2
batch_size = 2
epochs = 1
decay_epochs = 0
pool_size = 0
diffaugment = ""
augment = false
jit_compile = false
sample_images = 2
keep_checkpoints = 1
"""


@pytest.mark.slow
def test_kernel_runs_end_to_end_on_the_sample(tmp_path, sample_dir, run_cli):
    cache = tmp_path / "cache"
    cache.mkdir()
    os.environ["PAINTER_CACHE"] = str(cache)  # no weights to bundle
    try:
        config = tmp_path / "tiny.toml"
        config.write_text(TINY_CONFIG)
        code, out, err = run_cli(
            "kaggle", "bundle", tmp_path / "bundle", "--config", config, "--accelerator", "none",
            "--username", "tester",
        )
    finally:
        del os.environ["PAINTER_CACHE"]
    assert code == 0, err

    # The wheel holds the package with its data, and nothing stale.
    wheel = next((tmp_path / "bundle" / "dataset").glob("painter-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("painter/cli.py", "painter/configs/quick.toml", "painter/kaggle/kernel_script.py",
                   "painter/data/sample/photo_jpg/00068bc07f.jpg"):
        assert needed in names
    assert not [n for n in names if "__pycache__" in n or n.startswith("tests/")]

    # Kaggle's layout: /kaggle/input/<dataset>, /kaggle/input/gan-getting-started, /kaggle/working.
    kaggle_input = tmp_path / "kaggle" / "input"
    shutil.copytree(tmp_path / "bundle" / "dataset", kaggle_input / "painter-wheel")
    shutil.copytree(sample_dir, kaggle_input / "gan-getting-started")
    working = tmp_path / "kaggle" / "working"
    site = tmp_path / "site"
    env = {
        **os.environ,
        "PAINTER_KAGGLE_INPUT": str(kaggle_input),
        "PAINTER_KAGGLE_WORKING": str(working),
        "PAINTER_PIP_TARGET": str(site),
        "PAINTER_TRAIN_ARGS": "--steps-per-epoch 1",
        "PAINTER_CACHE": str(cache),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [sys.executable, str(tmp_path / "bundle" / "kernel" / "painter_kernel.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]

    # It ran the installed wheel, not this checkout.
    assert f"from {site / 'painter' / '__init__.py'}" in log
    assert "the MiFID score will be skipped" in log
    assert "tiny.toml" in log  # the dataset's config, not a shipped one
    # the competition's photos, not the sample shipped inside the wheel
    assert f"32 photos in {kaggle_input / 'gan-getting-started'} (photo)" in log

    images = working / "images.zip"
    assert ": 7,000 images, all 256×256×3 JPEGs: ok" in log  # `painter check` passed
    with zipfile.ZipFile(images) as archive:
        infos = archive.infolist()
        assert len(infos) == 7000
        assert len({i.filename for i in infos}) == 7000
        digests = {hashlib.sha1(archive.read(i)).digest() for i in infos}
    assert len(digests) == 7000  # no byte-identical images among the variants
    run = working / "painter_run"
    assert (run / "loss.png").is_file() and (run / "history.csv").is_file()
    assert list((run / "samples").glob("epoch_*.png"))
    assert not (working / "score.json").exists()
    assert not [p for p in working.iterdir() if p.name.startswith(".")]  # no partial files
