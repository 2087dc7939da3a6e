"""The Kaggle kernel, offline: `painter kaggle bundle` → the kernel script run with Kaggle's
paths mapped into a temporary folder → images.zip checked, whatever happens to training.

The kernel runs under a Python that cannot import this checkout: a throwaway venv whose
only way to the test's packages is a .pth line naming this venv's site-packages, which
adds that folder to sys.path without running its .pth files, so the editable install's
finder never loads. The script installs the freshly built wheel with `pip install
--no-deps --target` (the test's own environment stays untouched), and the log's
`painter … from …` line must name that target. The slow tests train a tiny config on the
embedded sample and write 7,000 images (32 photos and their variants) each.

Faults come in through the kernel's PAINTER_KAGGLE_FAULT hook, which replaces the
`painter train` command by one that fails or hangs; every other step is the real one.
The fast tests drive the kernel's own functions (budget, accelerator check, watchdog).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import textwrap
import time
import zipfile
from pathlib import Path

import pytest

from conftest import tiny_cyclegan
from painter.config import config_to_toml
from painter.kaggle import kernel_script as ks

# The environment variables the kernel script reads for its paths, limits and faults.
KERNEL_VARIABLES = (
    "PAINTER_CONFIG", "PAINTER_KAGGLE_ACCELERATOR", "PAINTER_KAGGLE_CAP", "PAINTER_KAGGLE_DATA",
    "PAINTER_KAGGLE_ESTIMATES", "PAINTER_KAGGLE_FAULT", "PAINTER_KAGGLE_INPUT",
    "PAINTER_KAGGLE_WORKING", "PAINTER_PIP_TARGET", "PAINTER_SCORE", "PAINTER_SETTINGS",
    "PAINTER_SMOKE", "PAINTER_STOP_GRACE", "PAINTER_TIME_BUDGET", "PAINTER_TRAIN_ARGS",
    "PAINTER_WATCHDOG",
)


# ---- fixtures ------------------------------------------------------------------------


@pytest.fixture
def kernel_env(monkeypatch):
    """`monkeypatch` with every kernel setting (and PYTHONPATH) removed from the environment:
    a test sets only what it is about, and pytest restores the environment after it."""
    for name in KERNEL_VARIABLES + ("PYTHONPATH",):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture(scope="module")
def isolated_python(tmp_path_factory) -> Path:
    """A venv's python that sees this venv's packages but not the editable painter."""
    root = tmp_path_factory.mktemp("isolated")
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(root / "venv")], check=True)
    python = root / "venv" / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    Path(site, "painter_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    probe = subprocess.run([str(python), "-c", "import painter"], cwd=root, env=env,
                           capture_output=True, text=True)
    assert probe.returncode != 0 and "No module named 'painter'" in probe.stderr
    return python


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """A bundle of the tiny config for the CPU, without weights (built once)."""
    from painter.kaggle.bundle import build_bundle

    root = tmp_path_factory.mktemp("bundle")
    config = root / "tiny.toml"
    config.write_text(config_to_toml(tiny_cyclegan()))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PAINTER_CACHE", str(root / "empty-cache"))
        build_bundle(root / "out", config=str(config), accelerator="none", username="tester",
                     log=lambda message: None)
    return root / "out"


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, bundle) -> Path:
    """A run of the tiny config with one checkpoint, as a failed kernel would leave it."""
    from painter.config import load_config
    from painter.train import train

    out = tmp_path_factory.mktemp("trained") / "painter_run"
    sample = Path(__file__).resolve().parents[1] / "painter" / "data" / "sample"
    train(load_config(bundle / "dataset" / "configs" / "tiny.toml"), data=sample, out=out,
          steps_per_epoch=1, strategy="cpu", log=None, progress=False)
    assert ks.checkpoints(out) == ["step_00000001"]
    return out


class KaggleFolders:
    """/kaggle/input and /kaggle/working under tmp_path, and the kernel's environment."""

    def __init__(self, tmp_path, bundle, python, sample, kernel_env):
        self.root = tmp_path / "kaggle"
        self.input = self.root / "input"
        self.working = self.root / "working"
        self.site = tmp_path / "site"
        self.cache = tmp_path / "cache"
        self.cache.mkdir()
        self.kernel = bundle / "kernel" / "painter_kernel.py"
        self.python = python
        shutil.copytree(bundle / "dataset", self.input / "painter-wheel")
        shutil.copytree(sample, self.input / "gan-getting-started")
        for name, value in {
            "PAINTER_KAGGLE_INPUT": self.input,
            "PAINTER_KAGGLE_WORKING": self.working,
            "PAINTER_PIP_TARGET": self.site,
            "PAINTER_CACHE": self.cache,
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PAINTER_TRAIN_ARGS": "--steps-per-epoch 1",
        }.items():
            kernel_env.setenv(name, str(value))

    def run(self, kernel: Path | None = None, timeout: float = 900):
        """Runs the kernel; returns (exit status, log, status.json, seconds)."""
        started = time.monotonic()
        done = subprocess.run(
            [str(self.python), str(kernel or self.kernel)], cwd=self.root, capture_output=True,
            text=True, timeout=timeout,
        )
        seconds = time.monotonic() - started
        log = done.stdout + done.stderr
        status_path = self.working / "status.json"
        status = json.loads(status_path.read_text()) if status_path.is_file() else None
        return done.returncode, log, status, seconds

    def seed_run(self, trained_run: Path) -> None:
        """A run directory left by an earlier session (copied, mtimes kept)."""
        self.working.mkdir(parents=True, exist_ok=True)
        shutil.copytree(trained_run, self.working / "painter_run")


@pytest.fixture
def kaggle(tmp_path, bundle, isolated_python, sample_dir, kernel_env) -> KaggleFolders:
    return KaggleFolders(tmp_path, bundle, isolated_python, sample_dir, kernel_env)


def steps(status: dict) -> dict:
    """The last record of each step, by name."""
    return {record["step"]: record for record in status["steps"]}


def check_zip(path: Path) -> None:
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        assert len(infos) == 7000 and len({i.filename for i in infos}) == 7000
        digests = {hashlib.sha1(archive.read(i)).digest() for i in infos}
    assert len(digests) == 7000  # no byte-identical images among the variants


def check_log(log: str, kaggle: KaggleFolders) -> None:
    assert "Traceback" not in log
    # The wheel ran, not this checkout.
    assert f"from {kaggle.site / 'painter' / '__init__.py'}" in log
    assert ": 7,000 images, all 256×256×3 JPEGs: ok" in log  # `painter check` passed
    assert not [p for p in kaggle.working.iterdir() if p.name.startswith(".")]  # no partial files


# ---- the kernel end to end -------------------------------------------------------------


@pytest.mark.slow
def test_kernel_trains_within_a_tiny_cap_then_writes_and_checks_the_zip(kaggle, monkeypatch):
    """The budget counts from the kernel's start: a 4-minute cap with the margin and the
    later steps' estimates set aside leaves about a minute, which stops a 1,000-epoch run
    early, by its own budget (the kernel would stop it half a margin later)."""
    estimates = {"margin": 60, "generate": 80, "check": 10}
    monkeypatch.setenv("PAINTER_KAGGLE_CAP", "4m")
    monkeypatch.setenv("PAINTER_KAGGLE_ESTIMATES", json.dumps(estimates))
    monkeypatch.setenv("PAINTER_TRAIN_ARGS", "--epochs 1000 --steps-per-epoch 4")
    code, log, status, seconds = kaggle.run()
    assert code == 0, log[-4000:]
    check_log(log, kaggle)
    assert "the MiFID score will be skipped" in log  # no weights in this bundle
    assert "tiny.toml" in log  # the dataset's config, not a shipped one
    # the competition's photos, not the sample shipped inside the wheel
    assert f"32 photos in {kaggle.input / 'gan-getting-started'} (photo)" in log
    assert "--strategy cpu" in log

    assert status["ok"] is True and status["cap_seconds"] == 240
    done = steps(status)
    train = done["train"]
    assert train["status"] == "ok" and "time_budget" in train["reason"]  # stopped by the budget
    # budget = cap − margin − time spent before training − the later steps' estimates
    spent = max(r["at"] for r in status["steps"] if r["step"].endswith(" weights"))
    assert train["budget_seconds"] <= 240 - 60 - 80 - 10 - spent + 1
    assert train["at"] <= 240 - 60 - 80 - 10 + 30  # by the kernel's clock at the latest
    assert status["zip"]["source"].startswith(f"checkpoint {kaggle.working / 'painter_run' / 'checkpoints'}")
    assert status["zip"]["checked"] is True and done["check"]["status"] == "ok"
    check_zip(kaggle.working / "images.zip")
    run = kaggle.working / "painter_run"
    assert (run / "loss.png").is_file() and (run / "history.csv").is_file()
    assert list((run / "samples").glob("epoch_*.png"))
    assert not (kaggle.working / "score.json").exists()


@pytest.mark.slow
def test_kernel_runs_twice_in_the_same_session(kaggle, monkeypatch, fid_weights):
    """A notebook re-run: the weights import again into the kernel's cache, training
    resumes from the checkpoint, images.zip and status.json are replaced."""
    shutil.copy2(fid_weights, kaggle.input / "painter-wheel" / "fid_inception.weights.h5")
    monkeypatch.setenv("PAINTER_SCORE", "0")  # 7,000 images through the Inception: minutes
    first_code, first_log, first, _ = kaggle.run()
    assert first_code == 0, first_log[-4000:]
    monkeypatch.setenv("PAINTER_TRAIN_ARGS", "--steps-per-epoch 1 --epochs 2")
    code, log, status, _ = kaggle.run()
    assert code == 0, log[-4000:]
    check_log(log, kaggle)
    done = steps(status)
    assert done["fid weights"]["status"] == "ok"
    assert "--resume" in log and "resumed from" in log
    assert done["train"]["status"] == "ok" and done["generate"]["status"] == "ok"
    assert status["zip"]["checked"] is True and status["ok"] is True
    assert status["started"] >= first["started"]
    assert len(status["steps"]) == len(first["steps"])  # a new status.json, not appended to


def _run_kernel_built_for(kaggle, tmp_path, accelerator: str):
    """Runs the tiny config's kernel as the bundle writes it for `accelerator` (on this
    machine, which has none); returns (exit code, log, status.json)."""
    from painter.kaggle.bundle import kernel_budget, write_kernel_folder

    folder = tmp_path / f"{accelerator}-kernel"
    folder.mkdir()
    write_kernel_folder(folder, config="tiny", accelerator=accelerator, username="tester",
                        budget=kernel_budget(accelerator, gflops=0.01))
    code, log, status, _ = kaggle.run(folder / "painter_kernel.py")
    return code, log, status


@pytest.mark.slow
def test_a_gpu_kernel_without_a_gpu_stops_before_training_and_leaves_the_baseline(
    kaggle, bundle, tmp_path
):
    code, log, status = _run_kernel_built_for(kaggle, tmp_path, "gpu")
    assert code == 1
    check_log(log, kaggle)
    errors = [line for line in log.splitlines() if line.startswith("error: accelerator:")]
    assert len(errors) == 1
    assert "built for a GPU but TensorFlow sees no GPU (devices: CPU×1)" in errors[0]
    done = steps(status)
    assert done["accelerator"]["status"] == "failed" and done["accelerator"]["at"] < 60
    assert "train" not in done and not (kaggle.working / "painter_run").exists()
    assert status["zip"] == {"path": str(kaggle.working / "images.zip"),
                             "source": "baseline color-match", "checked": True}
    assert status["ok"] is False
    check_zip(kaggle.working / "images.zip")


@pytest.mark.slow
def test_a_tpu_kernel_without_a_tpu_stops_before_training_on_jax(
    kaggle, bundle, tmp_path, jax_installed
):
    """The TPU kernel probes the devices JAX sees (Keras on JAX): on this CPU it refuses to
    train in one line and still leaves a checked zip, as the GPU kernel does."""
    code, log, status = _run_kernel_built_for(kaggle, tmp_path, "tpu")
    assert code == 1
    check_log(log, kaggle)
    assert re.search(r"; Keras \S+ on jax; TensorFlow \S+, JAX \d", log)  # the probe ran on JAX
    errors = [line for line in log.splitlines() if line.startswith("error: accelerator:")]
    assert len(errors) == 1
    assert "built for the TPU but JAX sees no TPU (devices: CPU×1)" in errors[0]
    done = steps(status)
    assert status["versions"]["backend"] == "jax" and status["devices"] == ["CPU"]
    assert done["accelerator"]["status"] == "failed" and "train" not in done
    assert status["zip"]["source"] == "baseline color-match" and status["zip"]["checked"] is True
    check_zip(kaggle.working / "images.zip")


@pytest.mark.slow
def test_training_that_fails_after_a_checkpoint_still_gives_a_zip_from_it(kaggle, trained_run, monkeypatch):
    kaggle.seed_run(trained_run)
    monkeypatch.setenv("PAINTER_KAGGLE_FAULT", "train-fails")
    code, log, status, _ = kaggle.run()
    assert code == 1
    check_log(log, kaggle)
    done = steps(status)
    assert done["train"] == {**done["train"], "status": "failed", "reason": "injected training failure"}
    assert done["generate"]["status"] == "ok"
    assert status["zip"]["source"].startswith(
        f"checkpoint {kaggle.working / 'painter_run' / 'checkpoints' / 'step_00000001'}")
    assert status["zip"]["checked"] is True and status["ok"] is False
    assert log.rstrip().splitlines()[-1] == (
        "error: the kernel ended with failures: train: injected training failure"
    )
    check_zip(kaggle.working / "images.zip")


@pytest.mark.slow
def test_training_that_fails_before_any_checkpoint_gives_the_baseline(kaggle, monkeypatch):
    monkeypatch.setenv("PAINTER_KAGGLE_FAULT", "train-fails")
    code, log, status, _ = kaggle.run()
    assert code == 1
    check_log(log, kaggle)
    done = steps(status)
    assert done["train"]["status"] == "failed" and "generate" not in done
    assert done["baseline"]["status"] == "ok"
    assert status["zip"]["source"] == "baseline color-match" and status["zip"]["checked"] is True
    assert "no checkpoint to generate from: writing the colour-matched baseline" in log
    check_zip(kaggle.working / "images.zip")


@pytest.mark.slow
def test_a_hung_training_is_stopped_by_the_watchdog_and_the_zip_comes_from_its_checkpoint(
    kaggle, trained_run, monkeypatch
):
    kaggle.seed_run(trained_run)
    monkeypatch.setenv("PAINTER_KAGGLE_FAULT", "train-hangs")
    monkeypatch.setenv("PAINTER_WATCHDOG", "3s")
    monkeypatch.setenv("PAINTER_STOP_GRACE", "1s")
    code, log, status, _ = kaggle.run()
    assert code == 1
    check_log(log, kaggle)
    train = steps(status)["train"]
    assert train["status"] == "failed" and train["reason"] == "no sign of life for 0m03s: stopped as hung"
    assert train["seconds"] < 30  # the hang sleeps for an hour and ignores SIGINT
    assert "step_00000001" in status["zip"]["source"] and status["zip"]["checked"] is True
    check_zip(kaggle.working / "images.zip")


# ---- the kernel's parts, fast --------------------------------------------------------------


def test_bad_settings_fail_in_one_line_with_status(tmp_path, kernel_env):
    working = tmp_path / "working"
    env = {**os.environ, "PAINTER_KAGGLE_WORKING": str(working), "PAINTER_KAGGLE_CAP": "soon",
           "PAINTER_KAGGLE_INPUT": str(tmp_path / "input")}
    done = subprocess.run([sys.executable, ks.__file__], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "error: PAINTER_KAGGLE_CAP='soon': expected a duration like 5h, 4m30s or 90s"
    )
    status = json.loads((working / "status.json").read_text())
    assert status["ok"] is False and status["error"].startswith("PAINTER_KAGGLE_CAP=")


def test_a_missing_wheel_is_one_line(tmp_path, kernel_env):
    working = tmp_path / "working"
    (tmp_path / "input").mkdir()
    env = {**os.environ, "PAINTER_KAGGLE_WORKING": str(working), "PAINTER_KAGGLE_INPUT": str(tmp_path / "input")}
    done = subprocess.run([sys.executable, ks.__file__], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: no painter-*.whl under {tmp_path / 'input'}; attach the painter dataset"
    ]


@pytest.mark.parametrize("text, seconds", [("5h", 18000), ("4m", 240), ("1h30m", 5400), ("90", 90),
                                           ("2.5s", 2.5), ("1h30s", 3630), (18000, 18000)])
def test_durations(text, seconds):
    assert ks._seconds(text, "X") == seconds


@pytest.mark.parametrize("text", ["", "soon", "0", "-5m", "5m5h"])
def test_bad_durations(text):
    with pytest.raises(ks.KernelError, match="X="):
        ks._seconds(text, "X")


def test_training_budget_is_the_cap_less_margin_elapsed_and_later_steps():
    budget = {"cap": 18000, "margin": 1200, "install": 300, "generate": 1300, "check": 180, "score": 250}
    assert ks.training_budget(budget, 18000, elapsed=100, scoring=True) == 18000 - 1200 - 100 - 1300 - 180 - 250
    # no score to run: its time goes to training
    assert ks.training_budget(budget, 18000, elapsed=100, scoring=False) == 18000 - 1200 - 100 - 1300 - 180
    # the estimate of the install is not used: the time it took is
    assert ks.training_budget(budget, 240, elapsed=30, scoring=False) < 0


def test_accelerator_check():
    assert ks.accelerator_problem("gpu", ["CPU", "GPU", "GPU"]) is None
    assert ks.accelerator_problem("none", ["CPU"]) is None
    assert ks.accelerator_problem("tpu", ["CPU", "TPU"]) is None
    gpu = ks.accelerator_problem("gpu", ["CPU"])
    assert gpu.startswith("this kernel was built for a GPU but TensorFlow sees no GPU (devices: CPU×1)")
    tpu = ks.accelerator_problem("tpu", ["CPU"])
    assert tpu.startswith("this kernel was built for the TPU but JAX sees no TPU (devices: CPU×1); "
                          "turn on the TPU VM v5e-8 accelerator")
    assert ks.accelerator_problem("tpu", ["TPU"] * 8) is None  # what JAX lists on a v5e-8


@pytest.mark.parametrize("accelerator, strategy", [("gpu", "mirrored"), ("tpu", "tpu"), ("none", "cpu")])
def test_train_command(tmp_path, kernel_env, accelerator, strategy):
    kernel_env.setenv("PAINTER_KAGGLE_WORKING", str(tmp_path))
    kernel_env.setenv("PAINTER_KAGGLE_ACCELERATOR", accelerator)
    kernel_env.setenv("PAINTER_SMOKE", "1")
    kernel = ks.Kernel()
    kernel.configure()
    command = kernel.train_command(3600)
    backend = "jax" if accelerator == "tpu" else "tensorflow"
    assert kernel.env["KERAS_BACKEND"] == backend  # every step of the kernel, not only training
    assert command[command.index("--strategy") + 1] == strategy
    if accelerator == "tpu":  # Keras on JAX, data-parallel over every TPU core
        assert command[command.index("--backend") + 1] == "jax"
    else:
        assert "--backend" not in command
    assert command[command.index("--time-budget") + 1] == "3600s"
    assert command[-4:] == ["--epochs", "1", "--steps-per-epoch", "20"]  # the smoke run
    assert "--resume" not in command and "--force" not in command
    (tmp_path / "painter_run").mkdir()  # a run that never reached a checkpoint
    assert "--force" in kernel.train_command(3600)
    checkpoint = tmp_path / "painter_run" / "checkpoints" / "step_00000007"
    checkpoint.mkdir(parents=True)
    (checkpoint / "manifest.json").write_text("{}")
    (tmp_path / "painter_run" / "checkpoints" / ".step_00000008.tmp").mkdir()  # a write cut short
    assert ks.checkpoints(tmp_path / "painter_run") == ["step_00000007"]
    command = kernel.train_command(3600)
    assert "--resume" in command and "--force" not in command
    assert not kernel.scoring()  # a smoke run does not score


def test_every_weights_file_of_the_registry_in_the_inputs_is_imported(tmp_path, kernel_env):
    """The probe reports the installed painter's weights registry; each of its files found
    in the inputs goes through `painter weights import FILE --force`, each a status step."""
    from painter.weights import REGISTRY

    probe = subprocess.run([sys.executable, "-c", ks.PROBE, "none"], capture_output=True,
                           text=True, timeout=120)
    assert probe.returncode == 0, probe.stdout + probe.stderr
    found = json.loads(probe.stdout.strip().splitlines()[-1])
    assert found["weights"] == {name: spec.file_name for name, spec in REGISTRY.items()}

    stylizer = tmp_path / "input" / "painter-wheel" / "stylizer.weights.h5"
    stylizer.parent.mkdir(parents=True)
    stylizer.write_bytes(b"stylizer")
    kernel_env.setenv("PAINTER_KAGGLE_INPUT", str(tmp_path / "input"))
    kernel_env.setenv("PAINTER_KAGGLE_WORKING", str(tmp_path / "working"))
    kernel = ks.Kernel()
    kernel.configure()
    kernel.weights_files = found["weights"]
    commands = []

    def run(args, **kwargs):
        commands.append(args)
        return ks.Outcome(0, ["imported"], None, 0.1)

    kernel_env.setattr(kernel, "run", run)
    kernel.import_weights()
    assert commands == [kernel.painter + ["weights", "import", str(stylizer), "--force"]]
    done = steps(json.loads((tmp_path / "working" / "status.json").read_text()))
    assert done["fid weights"]["status"] == "skipped"
    assert done["fid weights"]["reason"] == "no fid_inception.weights.h5 in the inputs"
    assert done["stylizer weights"]["status"] == "ok"
    assert not kernel.scoring()  # no FID weights: no score


def test_the_score_is_skipped_when_the_time_left_does_not_cover_it(tmp_path, kernel_env, capsys):
    kernel_env.setenv("PAINTER_KAGGLE_WORKING", str(tmp_path))
    kernel_env.setenv("PAINTER_KAGGLE_CAP", "10m")
    kernel_env.setenv("PAINTER_KAGGLE_ESTIMATES", json.dumps({"margin": 60, "score": 600}))
    kernel = ks.Kernel()
    kernel.configure()
    kernel.weights_ready = True
    assert kernel.scoring()
    kernel.score()  # 9 minutes left before the margin, 10 needed: no subprocess is started
    assert re.search(r"MiFID skipped: (8m59s|9m00s) left before the cap's margin; scoring needs "
                     r"about 10m00s", capsys.readouterr().out)
    record = json.loads((tmp_path / "status.json").read_text())["steps"][-1]
    assert record["step"] == "score" and record["status"] == "skipped"
    assert not (tmp_path / "score.json").exists()


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def test_outcome_last_json_is_the_last_line_that_parses_as_an_object():
    lines = ['{"first": 1}', "progress 3/7", '{"mifid": 52.5}', "{not json", "done"]
    assert ks.Outcome(0, lines, None, 1.0).last_json() == {"mifid": 52.5}
    assert ks.Outcome(0, ["no json here", "{broken"], None, 1.0).last_json() is None


@pytest.fixture(params=["default", "ignored"])
def parent_sigint(request):
    """The kernel's own SIGINT as a terminal gives it, or ignored, as a non-interactive
    shell leaves a job it starts in the background (`python painter_kernel.py &`)."""
    if request.param == "default":
        yield request.param
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield request.param
    finally:
        signal.signal(signal.SIGINT, previous)


def test_watchdog_stops_a_silent_process_first_with_sigint(tmp_path, parent_sigint):
    marker = tmp_path / "interrupted"
    command = _python(f"""
        import time
        print("started", flush=True)
        try:
            time.sleep(60)
        except KeyboardInterrupt:
            open({str(marker)!r}, "w").write("checkpoint")  # what painter train does
            raise SystemExit(130)
    """)
    started = time.monotonic()
    done = ks.run_watched(command, dict(os.environ), watchdog=2.0, grace=10.0)
    assert time.monotonic() - started < 15
    assert done.stopped == "hang" and done.returncode == 130 and not done.ok
    assert marker.read_text() == "checkpoint"
    assert done.lines == ["started"]


def test_watchdog_escalates_when_sigint_is_ignored():
    command = _python("""
        import signal, time
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        time.sleep(60)
    """)
    started = time.monotonic()
    done = ks.run_watched(command, dict(os.environ), watchdog=1.0, grace=0.5)
    assert time.monotonic() - started < 20
    assert done.stopped == "hang" and done.returncode == -signal.SIGTERM
    assert done.error() == f"killed by signal {int(signal.SIGTERM)}"


def test_signs_of_life_keep_a_step_alive(tmp_path):
    """Output lines, or a heartbeat file touched while the process is silent."""
    chatty = _python("""
        import time
        for i in range(8):
            print(i, flush=True)
            time.sleep(0.4)
    """)
    done = ks.run_watched(chatty, dict(os.environ), watchdog=1.5, grace=1.0)
    assert done.ok and done.stopped is None and done.lines == [str(i) for i in range(8)]

    heartbeat = tmp_path / "heartbeat.json"
    silent = _python(f"""
        import json, time
        for i in range(8):
            open({str(heartbeat)!r}, "w").write(json.dumps({{"time": time.time(), "step": i}}))
            time.sleep(0.4)
    """)
    done = ks.run_watched(silent, dict(os.environ), watchdog=1.5, grace=1.0, signs=[heartbeat])
    assert done.ok and done.stopped is None


def test_the_clock_stops_a_step_that_overstays():
    command = _python("""
        import time
        for i in range(100):
            print(i, flush=True)
            time.sleep(0.2)
    """)
    done = ks.run_watched(command, dict(os.environ), watchdog=60, grace=5.0, deadline=time.time() + 1.5)
    assert done.stopped == "clock" and not done.ok and len(done.lines) < 50


def test_errors_come_back_as_the_last_error_line():
    done = ks.run_watched(_python("""
        print("error: first")
        print("error: data/photo_jpg/x.jpg: not a JPEG")
        raise SystemExit(2)
    """), dict(os.environ), watchdog=30, grace=1.0)
    assert done.returncode == 2 and done.error() == "data/photo_jpg/x.jpg: not a JPEG"
    missing = ks.run_watched(["/nonexistent/python"], dict(os.environ), watchdog=30, grace=1.0)
    assert missing.returncode == 127 and "/nonexistent/python" in missing.error()


def test_status_is_replaced_atomically(tmp_path):
    status = ks.Status(str(tmp_path / "status.json"), time.time(), accelerator="gpu")
    status.step("install", "ok", "painter 0.1.0", 3.04)
    status.step("train", "failed", "NaN loss", 10.0)
    data = json.loads((tmp_path / "status.json").read_text())
    assert [s["step"] for s in data["steps"]] == ["install", "train"]
    assert data["steps"][0]["seconds"] == 3.0 and data["steps"][1]["reason"] == "NaN loss"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["status.json"]
