"""`painter kaggle bundle` and the checked-in submission/ kernel folder (no network)."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest
from slugify import slugify  # the kaggle client's own dependency, as its push uses it

from painter.config import load_config
from painter.kaggle import bundle as kbundle
from painter.train.budget import format_duration
from painter.weights import REGISTRY

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def fake_wheel(tmp_path) -> Path:
    """A stand-in wheel: these tests are about the folders, the real wheel is built and
    installed in test_kaggle_kernel.py."""
    path = tmp_path / "painter-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("painter/__init__.py", "")
    return path


@pytest.fixture
def empty_cache(empty_cache) -> Path:
    """conftest's empty cache, created: these tests put weights files in it."""
    empty_cache.mkdir()
    return empty_cache


def _read_json(path: Path) -> dict:
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf"), f"{path} starts with a BOM"
    return json.loads(raw.decode("utf-8"))


def check_kernel_metadata(metadata: dict, folder: Path, accelerator: str) -> None:
    """What `kaggle kernels push` requires, and what painter promises."""
    owner, slug = metadata["id"].split("/")
    assert owner and slug
    assert len(metadata["title"]) >= 5 and slugify(metadata["title"]) == slug
    assert (folder / metadata["code_file"]).is_file()
    assert metadata["language"] == "python" and metadata["kernel_type"] == "script"
    assert metadata["enable_internet"] is False
    assert metadata["competition_sources"] == ["gan-getting-started"]
    assert metadata["dataset_sources"] == [f"{owner}/painter-wheel"]
    assert metadata["enable_gpu"] is (accelerator == "gpu")
    assert metadata["enable_tpu"] is (accelerator == "tpu")


@pytest.mark.parametrize("accelerator", ["gpu", "tpu", "none"])
def test_bundle_folders_and_metadata(tmp_path, run_cli, fake_wheel, empty_cache, accelerator):
    out = tmp_path / "bundle"
    code, stdout, err = run_cli(
        "kaggle", "bundle", out, "--config", "quick", "--accelerator", accelerator,
        "--username", "alice", "--wheel", fake_wheel,
    )
    assert code == 0, err
    dataset, kernel = out / "dataset", out / "kernel"
    assert sorted(p.name for p in dataset.iterdir()) == [
        "configs", "dataset-metadata.json", fake_wheel.name,
    ]
    shipped = sorted(p.name for p in (REPO / "painter" / "configs").glob("*.toml"))
    assert sorted(p.name for p in (dataset / "configs").iterdir()) == shipped
    assert sorted(p.name for p in kernel.iterdir()) == ["kernel-metadata.json", "painter_kernel.py"]

    dataset_meta = _read_json(dataset / "dataset-metadata.json")
    assert dataset_meta["id"] == "alice/painter-wheel"
    assert dataset_meta["title"] and dataset_meta["licenses"]
    meta = _read_json(kernel / "kernel-metadata.json")
    check_kernel_metadata(meta, kernel, accelerator)
    assert meta["id"] == "alice/painter-monet"

    script = (kernel / "painter_kernel.py").read_text()
    assert 'CONFIG = "quick"\n' in script
    assert 'TIME_BUDGET = ""\n' in script and 'SMOKE = "0"\n' in script
    assert f'ACCELERATOR = "{accelerator}"\n' in script
    settings = kbundle.ACCELERATORS[accelerator]["settings"]
    assert f'SETTINGS = "{settings}"\n' in script
    budget = kbundle.kernel_budget(accelerator, load_config("quick"))
    assert f"BUDGET = {json.dumps(budget.to_kernel())}\n" in script
    compile(script, "painter_kernel.py", "exec")
    assert "no FID weights" in stdout
    # The split is printed: training is what the cap leaves.
    assert f"run-time budget on {accelerator} (cap 5h00m00s):" in stdout
    assert re.search(rf"^  training +{format_duration(budget.train)}  ", stdout, re.M)
    # The TPU kernel trains on Keras' JAX backend (Kaggle's TPU image has tensorflow-cpu):
    # said in the kernel line, with its bf16 and batch settings; no warning any more.
    backend = {"gpu": "tensorflow", "tpu": "jax", "none": "tensorflow"}[accelerator]
    kernel_line = next(line for line in stdout.splitlines() if line.startswith("kernel: "))
    assert f"(trains quick on {accelerator}, Keras on {backend}" in kernel_line
    if accelerator == "tpu":
        assert "batch_size=8 mixed_precision=mixed_bfloat16" in kernel_line
    assert not [line for line in err.splitlines() if "warning" in line]


SHIPPED = ("cyclegan", "cyclegan_unet", "noise_gan", "quick", "cpu_proof")


@pytest.mark.parametrize("accelerator", sorted(kbundle.ACCELERATORS))
def test_every_budget_fits_the_five_hour_cap_with_its_margin(accelerator):
    cap = 5 * 3600
    for name in SHIPPED:
        budget = kbundle.kernel_budget(accelerator, load_config(name))
        assert budget.cap == cap
        assert budget.margin >= 15 * 60  # Kaggle's own start and output saving, and misses
        parts = budget.install + budget.train + budget.generate + budget.check + budget.score
        assert parts + budget.margin <= cap + 1e-6, (accelerator, name)
        assert min(budget.install, budget.generate, budget.check, budget.score) > 0
        # 7,038 images can never be written faster than the per-image floor.
        assert budget.generate >= 7038 * kbundle.SPEEDS[accelerator].image_seconds
        if accelerator == "gpu":  # what the default kernel is for: hours of training
            assert budget.train >= 3.5 * 3600, name


def test_the_zip_estimate_grows_with_the_generator():
    small = kbundle.kernel_budget("gpu", gflops=1.0)
    large = kbundle.kernel_budget("gpu", gflops=100.0)
    assert large.generate > small.generate and large.train < small.train
    # ResNet-9 at 256 px: about 99 GFLOP an image, from its layers.
    assert 90 < kbundle.generator_gflops(load_config("cyclegan")) < 110


def test_a_config_too_slow_to_write_its_zip_on_the_cpu_is_refused(tmp_path, run_cli, fake_wheel,
                                                                   empty_cache):
    budget = kbundle.kernel_budget("none", load_config("cyclegan"))
    assert budget.train < kbundle.MIN_TRAINING_SECONDS
    out = tmp_path / "bundle"
    code, stdout, err = run_cli("kaggle", "bundle", out, "--accelerator", "none", "--wheel", fake_wheel)
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("error: cyclegan on none: writing 7,038 images takes about ")
    assert "--accelerator gpu" in err and not out.exists()


def test_smoke_bundle(tmp_path, run_cli, fake_wheel, empty_cache):
    code, stdout, err = run_cli(
        "kaggle", "bundle", tmp_path / "bundle", "--smoke", "--username", "a", "--wheel", fake_wheel,
    )
    assert code == 0, err
    script = (tmp_path / "bundle" / "kernel" / "painter_kernel.py").read_text()
    assert 'SMOKE = "1"\n' in script
    assert "smoke run: 1 epoch of 20 steps" in stdout


@pytest.mark.parametrize("accelerator", sorted(kbundle.ACCELERATORS))
def test_accelerator_settings_make_valid_configs_that_split_over_the_replicas(accelerator):
    from painter.config import load_config, parse_override

    replicas = {"gpu": 2, "tpu": 8, "none": 1}[accelerator]
    settings = dict(parse_override(s) for s in kbundle.ACCELERATORS[accelerator]["settings"].split())
    for name in ("cyclegan", "cyclegan_unet", "noise_gan"):
        config = load_config(name, **settings)
        assert config.batch_size % replicas == 0, (accelerator, name)
        expected = {"gpu": "mixed_float16", "tpu": "mixed_bfloat16", "none": ""}[accelerator]
        assert config.mixed_precision == expected


def test_custom_config_and_cached_weights_go_in(tmp_path, fake_wheel, empty_cache):
    (empty_cache / "fid_inception.weights.h5").write_bytes(b"weights")
    config = tmp_path / "mine.toml"
    config.write_text('family = "cyclegan"\nimage_size = 64\ngen_filters = 8\n')
    result = kbundle.build_bundle(
        tmp_path / "bundle", config=str(config), username="bob", wheel=fake_wheel, log=lambda m: None,
        time_budget="2h",
    )
    assert result.weights is not None and result.weights.read_bytes() == b"weights"
    assert (result.dataset / "configs" / "mine.toml").read_text() == config.read_text()
    script = (result.kernel / "painter_kernel.py").read_text()
    assert 'CONFIG = "mine"\n' in script and 'TIME_BUDGET = "2h"\n' in script
    mine = kbundle.kernel_budget("gpu", load_config(config))
    assert f"BUDGET = {json.dumps(mine.to_kernel())}\n" in script


def test_cached_stylizer_weights_go_in_and_a_stylizer_config_bundles(tmp_path, run_cli, fake_wheel,
                                                                    empty_cache):
    """Kaggle has no internet: the stylizer's weights travel in the dataset, under the
    registry's name, beside the FID weights."""
    (empty_cache / REGISTRY["fid"].file_name).write_bytes(b"fid")
    (empty_cache / REGISTRY["stylizer"].file_name).write_bytes(b"stylizer")
    out = tmp_path / "bundle"
    code, stdout, err = run_cli("kaggle", "bundle", out, "--config", "cpu_proof_stylizer",
                                "--username", "a", "--wheel", fake_wheel)
    assert code == 0, err
    assert (out / "dataset" / "stylizer.weights.h5").read_bytes() == b"stylizer"
    assert (out / "dataset" / "fid_inception.weights.h5").read_bytes() == b"fid"
    assert "FID weights, stylizer weights, configs" in stdout
    assert (out / "dataset" / "configs" / "cpu_proof_stylizer.toml").is_file()
    script = (out / "kernel" / "painter_kernel.py").read_text()
    assert 'CONFIG = "cpu_proof_stylizer"\n' in script
    # The zip's estimate counts the stylizer's networks at the size they paint.
    assert kbundle.generator_gflops(load_config("cpu_proof_stylizer")) > 2.0


def test_stylizer_weights_from_a_file(tmp_path, fake_wheel, empty_cache):
    given = tmp_path / "converted-elsewhere.h5"
    given.write_bytes(b"stylizer")
    result = kbundle.build_bundle(tmp_path / "bundle", config="quick", username="a",
                                  wheel=fake_wheel, stylizer_weights=given, log=lambda m: None)
    assert result.stylizer_weights == result.dataset / "stylizer.weights.h5"
    assert result.stylizer_weights.read_bytes() == b"stylizer"
    assert result.weights is None and not list(empty_cache.iterdir())


def test_a_stylizer_config_without_stylizer_weights_is_refused(tmp_path, run_cli, fake_wheel,
                                                               empty_cache):
    (empty_cache / REGISTRY["fid"].file_name).write_bytes(b"fid")
    out = tmp_path / "bundle"
    code, stdout, err = run_cli("kaggle", "bundle", out, "--config", "cpu_proof_stylizer",
                                "--wheel", fake_wheel)
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert err.startswith('error: cpu_proof_stylizer has base = "stylizer" but there are no '
                          f"stylizer weights at {empty_cache / 'stylizer.weights.h5'}")
    assert "run `painter weights fetch stylizer`" in err
    assert not out.exists()


def test_no_username_leaves_a_placeholder(tmp_path, fake_wheel, empty_cache, monkeypatch):
    monkeypatch.delenv("KAGGLE_USERNAME", raising=False)
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "no-kaggle"))
    messages = []
    result = kbundle.build_bundle(tmp_path / "bundle", wheel=fake_wheel, log=messages.append)
    assert result.username == kbundle.USERNAME_PLACEHOLDER
    assert any("--username" in m for m in messages)


def test_existing_out_dir_is_kept(tmp_path, run_cli, fake_wheel, empty_cache):
    out = tmp_path / "bundle"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    code, stdout, err = run_cli("kaggle", "bundle", out, "--wheel", fake_wheel)
    assert code == 2
    assert err.strip() == f"error: {out} exists; pass --force to replace it"
    assert [p.name for p in out.iterdir()] == ["mine.txt"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--config", "nope"], "nope: no such config file"),
        (["--time-budget", "soon"], "time budget 'soon'"),
        (["--wheel", "missing.whl"], "missing.whl: no such wheel"),
        (["--stylizer-weights", "missing.h5"], "missing.h5: no such weights file"),
    ],
)
def test_bad_options_one_line(tmp_path, run_cli, empty_cache, args, message):
    out = tmp_path / "bundle"
    code, stdout, err = run_cli("kaggle", "bundle", out, *args)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and message in err
    assert not out.exists()


def test_checked_in_submission_folder_is_current(tmp_path):
    """submission/ is what `painter kaggle bundle` writes for the defaults (cyclegan, GPU)."""
    folder = REPO / "submission"
    fresh = tmp_path / "kernel"
    fresh.mkdir()
    kbundle.write_kernel_folder(
        fresh, config="cyclegan", accelerator="gpu", username=kbundle.USERNAME_PLACEHOLDER
    )
    for name in ("kernel-metadata.json", "painter_kernel.py"):
        assert (folder / name).read_text() == (fresh / name).read_text(), (
            f"submission/{name} is stale: regenerate it with "
            "painter.kaggle.bundle.write_kernel_folder('submission', config='cyclegan', "
            "accelerator='gpu', username=USERNAME_PLACEHOLDER)"
        )
    check_kernel_metadata(_read_json(folder / "kernel-metadata.json"), folder, "gpu")
