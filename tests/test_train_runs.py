"""Whole runs of `train()` on tiny models: the losses are wired right (a CycleGAN overfits,
a noise GAN's discriminator separates), a NaN stops the run and keeps the last good
checkpoint, and a run killed with SIGKILL resumes with its epoch, weights and optimizer
state, then stops in time for a budget."""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import tiny_cyclegan
from painter.config import load_config
from painter.errors import TrainingError
from painter.train import list_checkpoints, load_generator, train
from painter.train.checkpoints import find_checkpoint
from painter.train.callbacks import RunCallback
from painter.train.history import read_history


class StepCallback(RunCallback):
    """Calls `fn(run, global_step, logs)` after every training step."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def on_train_batch_end(self, batch, logs=None):
        self.fn(self.run, self.run.global_step, self.run.last_logs)

pytestmark = pytest.mark.slow

TINY_NOISE_TOML = (
    "family = 'noise_gan'\nimage_size = 16\nlatent_dim = 8\ngen_filters = 16\n"
    "disc_filters = 8\ndisc_layers = 1\nbatch_size = 4\nsample_images = 4\n"
    "diffaugment = ''\nlearning_rate_d = 2e-3\njit_compile = false\n"
    "keep_checkpoints = 2\n"
)


@pytest.fixture(scope="module")
def data8(tmp_path_factory, sample_dir):
    """A Kaggle-layout root with 8 photos and 8 Monets of the embedded sample."""
    root = tmp_path_factory.mktemp("data8")
    for domain in ("photo", "monet"):
        folder = root / f"{domain}_jpg"
        folder.mkdir()
        for image in sorted((sample_dir / f"{domain}_jpg").iterdir())[:8]:
            shutil.copy(image, folder)
    return root


def test_tiny_cyclegan_overfits_8_images_and_writes_its_run(tmp_path, data8):
    config = tiny_cyclegan(
        image_size=16, gen_filters=16, disc_filters=8, batch_size=4, epochs=4, decay_epochs=2,
        steps_per_epoch=50, learning_rate=2e-3, sample_images=3, keep_checkpoints=2,
    )
    first_step = {}

    def record_first_step(run, step, logs):
        first_step.setdefault("cycle_loss", logs["cycle_loss"])  # one step's exact value

    run_dir = tmp_path / "run"
    result = train(config, data=data8, out=run_dir, log=None, callbacks=[StepCallback(record_first_step)])

    last = result.history[-1]["cycle_loss"]
    curve = [r["cycle_loss"] for r in result.history]
    assert first_step["cycle_loss"] / last >= 5, (first_step, curve)
    assert result.stopped == "completed" and result.epochs_completed == 4
    assert result.global_step == 200
    # The run directory.
    history = read_history(run_dir / "history.csv")
    assert [r["epoch"] for r in history] == [1, 2, 3, 4]
    assert history[-1]["lr"] < history[1]["lr"] == pytest.approx(2e-3)  # the decay
    assert sorted(p.name for p in (run_dir / "samples").iterdir()) == [
        f"epoch_{e:03d}.png" for e in range(1, 5)
    ]
    assert [c.name for c in list_checkpoints(run_dir)] == ["step_00000150", "step_00000200"]
    assert (run_dir / "loss.png").stat().st_size > 1000
    assert any((run_dir / "logs").iterdir())
    assert "steps_per_epoch = 50" in (run_dir / "config.toml").read_text()
    from painter.rundir import run_data_root

    assert run_data_root(run_dir) == data8.resolve()  # `painter generate` reads its photos
    loaded_config, generator = load_generator(run_dir)
    assert loaded_config == result.config
    photos = np.random.default_rng(0).uniform(-1, 1, (2, 16, 16, 3)).astype("float32")
    np.testing.assert_allclose(generator(photos), result.model.gen_G(photos), atol=1e-6)


def test_tiny_noise_gan_separates_real_from_fake_then_a_nan_stops_it(tmp_path, data8):
    config_path = tmp_path / "noise.toml"
    config_path.write_text(TINY_NOISE_TOML)
    config = load_config(config_path)
    run_dir = tmp_path / "run"

    def poison_in_epoch_4(run, step, logs):
        if run.epoch == 3 and run.step_in_epoch == 1:  # NaN weights: the next step's losses are NaN
            weight = run.model.discriminator.trainable_weights[0]
            weight.assign(np.full(weight.shape, np.nan, "float32"))

    with pytest.raises(TrainingError) as error:
        train(config, data=data8, out=run_dir, epochs=5, steps_per_epoch=40, log=None,
              callbacks=[StepCallback(poison_in_epoch_4)])
    message = str(error.value)
    assert "\n" not in message and "non-finite loss at epoch 4, step 2" in message
    assert "D_loss=nan" in message and "step_00000120" in message

    history = read_history(run_dir / "history.csv")
    assert [r["epoch"] for r in history] == [1, 2, 3]
    # The discriminator tells real from fake: the losses are wired the right way round.
    assert history[-1]["D_real"] - history[-1]["D_fake"] > 0.5, history[-1]
    assert history[-1]["D_loss"] < math.log(2) / 2, history[-1]  # chance: ½(ln 2 + ln 2)
    # Nothing was written after the NaN: the last checkpoint is epoch 3's, and finite.
    (last,) = [c for c in list_checkpoints(run_dir) if c.global_step >= 120]
    assert last.epoch == 3 and last.name == "step_00000120"
    arrays = []
    with h5py.File(last.path / "discriminator.weights.h5") as weights:
        weights.visititems(
            lambda _, obj: arrays.append(obj[()]) if isinstance(obj, h5py.Dataset) else None
        )
    assert arrays and all(np.isfinite(a).all() for a in arrays)


def _start_painter_train(tmp_path: Path, data: Path):
    """`painter train` of the tiny noise GAN for 1000 epochs of 5 steps in a subprocess, to
    be stopped by a signal: (config path, run directory, the process, output piped)."""
    config_path = tmp_path / "noise.toml"
    config_path.write_text(TINY_NOISE_TOML)
    run_dir = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "painter", "train", str(config_path), "--data", str(data),
         "--out", str(run_dir), "--epochs", "1000", "--steps-per-epoch", "5"],
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )
    return config_path, run_dir, process


def _wait_for_checkpoints(run_dir: Path, count: int, process, timeout: float = 300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len([c for c in list_checkpoints(run_dir) if c.numbered]) >= count:
            return
        if process.poll() is not None:
            pytest.fail(f"painter train ended early:\n{process.stdout.read()[-3000:]}")
        time.sleep(0.2)
    pytest.fail(f"no {count} checkpoints after {timeout} s")


def test_kill_9_then_resume_restores_epoch_weights_and_optimizer_then_budget_stops(tmp_path, data8):
    config_path, run_dir, process = _start_painter_train(tmp_path, data8)
    try:
        _wait_for_checkpoints(run_dir, 2, process)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL
    last = find_checkpoint(run_dir)
    assert last.epoch >= 2 and last.step_in_epoch == 0 and last.global_step == 5 * last.epoch
    _, saved_generator = load_generator(run_dir)
    config = load_config(config_path)

    # Resume with nothing left to train: the restored state, as the checkpoint holds it.
    restored = train(config, data=data8, out=run_dir, epochs=last.epoch, resume=True, log=None)
    assert restored.resumed_from == last.path
    assert restored.epochs_completed == last.epoch and restored.global_step == last.global_step
    for saved, loaded in zip(saved_generator.weights, restored.model.generator.weights):
        np.testing.assert_array_equal(saved.numpy(), loaded.numpy())
    assert [r["epoch"] for r in restored.history] == list(range(1, last.epoch + 1))

    # Resume and train on, with a time budget that ends the run early.
    started = time.monotonic()
    result = train(config, data=data8, out=run_dir, epochs=1000, resume=True,
                   time_budget="40s", log=None)
    elapsed = time.monotonic() - started
    assert result.stopped == "time_budget" and elapsed < 40, elapsed
    assert result.global_step > last.global_step
    newest = find_checkpoint(run_dir)
    assert newest.path == result.last_checkpoint and newest.global_step == result.global_step
    assert (newest.epoch, newest.step_in_epoch) == (
        result.epochs_completed, result.global_step - 5 * result.epochs_completed)
    epochs = [r["epoch"] for r in read_history(run_dir / "history.csv")]
    assert epochs == list(range(1, result.epochs_completed + 1))  # continued, no repeats


def test_ctrl_c_writes_a_checkpoint_mid_epoch_that_resumes(tmp_path, data8, capsys):
    config_path = tmp_path / "noise.toml"
    config_path.write_text(TINY_NOISE_TOML)
    config = load_config(config_path)
    run_dir = tmp_path / "run"

    def interrupt(run, step, logs):
        if step == 7:  # epoch 2, step 2
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config, data=data8, out=run_dir, epochs=3, steps_per_epoch=5,
              callbacks=[StepCallback(interrupt)])
    assert "interrupted: checkpoint" in capsys.readouterr().out
    last = find_checkpoint(run_dir)
    assert (last.epoch, last.step_in_epoch, last.global_step) == (1, 2, 7)
    resumed = train(config, data=data8, out=run_dir, epochs=1, resume=True, log=None)
    assert resumed.global_step == 7 and resumed.epochs_completed == 1
    assert [r["epoch"] for r in resumed.history] == [1]


# A CycleGAN of 10 epochs of 4 steps (5 constant, 5 decaying) for the time-budget plans.
BUDGET_CYCLEGAN = tiny_cyclegan(
    image_size=16, gen_filters=8, disc_filters=8, disc_layers=1, batch_size=4, epochs=10,
    decay_epochs=5, steps_per_epoch=4, learning_rate=2e-3, keep_checkpoints=2,
)


@pytest.fixture
def ten_second_steps(monkeypatch):
    """A fake monotonic clock (train's and the budget's) on which every training step
    takes 10 s and nothing else takes any time."""
    from painter.train import callbacks

    clock = [1000.0]
    monkeypatch.setattr(callbacks.time, "monotonic", lambda: clock[0])  # budget.py's too
    real_begin = callbacks.StepRecorder.on_train_batch_begin

    def ten_second_step(self, batch, logs=None):
        real_begin(self, batch, logs)  # the step's clock starts, then the step takes 10 s
        clock[0] += 10.0

    monkeypatch.setattr(callbacks.StepRecorder, "on_train_batch_begin", ten_second_step)


def test_a_budget_that_fits_3_of_10_epochs_ends_the_decay_at_epoch_3(
        tmp_path, data8, ten_second_steps):
    """A fake clock: every step takes 10 s, nothing else takes time. The 150 s budget fits 3
    epochs of 4 steps (after epoch 1, 110 s are left: less the 5 s margin and the first
    guess of 5 s for epoch 1's checkpoint, room for 2 epochs of 40 + 5 s), so the schedule
    of 10 epochs (5 constant, 5 decaying) is fitted to 3: constant to step 6, then down to
    0 at step 12, the end of epoch 3."""
    from painter.train.heartbeat import read_heartbeat
    from painter.train.schedules import learning_rate_at

    config = BUDGET_CYCLEGAN
    run_dir = tmp_path / "run"
    lines = []
    started = time.time()
    result = train(config, data=data8, out=run_dir, time_budget=150, log=lines.append,
                   progress=False)

    assert (result.stopped, result.epochs_completed, result.planned_epochs) == ("time_budget", 3, 3)
    assert result.global_step == 12
    history = read_history(run_dir / "history.csv")
    assert [r["epoch"] for r in history] == [1, 2, 3]
    assert [r["planned_epochs"] for r in history] == [3, 3, 3]
    # Each row's rate is its last step's: 3 (constant), 7 and 11 (decaying from step 6).
    assert [r["lr"] for r in history] == pytest.approx([2e-3, 2e-3 * 5 / 6, 2e-3 / 6], rel=1e-4)
    for optimizer in result.model.optimizers.values():
        assert learning_rate_at(optimizer) == 0.0  # the decay ended with the run
    assert any("time budget: 3 of 10 epochs fit" in line for line in lines), lines
    assert any("ended at the planned epoch 3 of 10" in line for line in lines), lines
    last = find_checkpoint(run_dir)
    assert last.plan["planned_epochs"] == 3
    assert last.plan["schedules"]["gen_G"] == pytest.approx(
        {"learning_rate": 2e-3, "constant_steps": 6.0, "decay_steps": 6.0})
    heartbeat = read_heartbeat(run_dir)
    assert (heartbeat["epoch"], heartbeat["step"], heartbeat["global_step"]) == (3, 0, 12)
    assert started <= heartbeat["time"] <= time.time()
    from painter.report import read_run, render_report

    page = render_report(read_run(run_dir))
    assert "<b>3 / 3</b><span>epochs done</span>" in page
    assert "<b>3 of 10</b><span>epochs planned for the time budget</span>" in page

    # Resumed under a budget, the run keeps its fitted schedule: the plan is done and the
    # rate is 0 (the config's own schedule would be back at 2e-3 until epoch 5).
    resumed = train(config, data=data8, out=run_dir, time_budget=150, resume=True, log=None,
                    progress=False)
    assert (resumed.epochs_completed, resumed.global_step, resumed.planned_epochs) == (3, 12, 3)
    for optimizer in resumed.model.optimizers.values():
        assert learning_rate_at(optimizer) == 0.0


def test_sigterm_writes_a_checkpoint_like_ctrl_c(tmp_path, data8):
    from painter.train.heartbeat import read_heartbeat

    _, run_dir, process = _start_painter_train(tmp_path, data8)
    try:
        deadline = time.monotonic() + 300
        while (read_heartbeat(run_dir) or {}).get("global_step", 0) < 1:  # the first step done
            if process.poll() is not None:
                pytest.fail(f"painter train ended early:\n{process.stdout.read()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail("no heartbeat after the first step within 300 s")
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=120)[0]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, output[-3000:]
    assert "error: interrupted" in output
    assert re.search(r"interrupted: (last )?checkpoint \S+", output), output[-3000:]
    last = find_checkpoint(run_dir)
    assert last.global_step >= 1 and last.global_step == 5 * last.epoch + last.step_in_epoch
    assert "Traceback" not in output


def test_a_plan_cut_short_by_its_budget_goes_on_when_resumed_with_a_new_one(
        tmp_path, data8, ten_second_steps):
    """A budget that runs out before the decay does: after epoch 1 of a 60 s budget no more
    epoch fits (the plan shrinks to 1 with the rate still at 2e-3). Resumed with 150 s, the
    run must train again (planned anew after its first epoch), not stop at once because
    the old plan's epochs are done."""
    from painter.train.schedules import learning_rate_at

    config = BUDGET_CYCLEGAN
    run_dir = tmp_path / "run"
    first = train(config, data=data8, out=run_dir, time_budget=60, log=None, progress=False)
    assert (first.stopped, first.epochs_completed, first.planned_epochs) == ("time_budget", 1, 1)
    cut_rate = learning_rate_at(next(iter(first.model.optimizers.values())))
    assert cut_rate == pytest.approx(2e-3)  # cut short: the decay never came

    lines = []
    resumed = train(config, data=data8, out=run_dir, time_budget=150, resume=True,
                    log=lines.append, progress=False)
    # Epoch 2 at the config's schedule, then 110 s left fit 2 more: 4 epochs, decayed to 0.
    assert (resumed.epochs_completed, resumed.global_step, resumed.planned_epochs) == (4, 16, 4)
    history = read_history(run_dir / "history.csv")
    assert [r["epoch"] for r in history] == [1, 2, 3, 4]
    assert [r["planned_epochs"] for r in history] == [1, 4, 4, 4]
    for optimizer in resumed.model.optimizers.values():
        assert learning_rate_at(optimizer) == 0.0
    assert any("planned again after this run's first epoch" in line for line in lines), lines
