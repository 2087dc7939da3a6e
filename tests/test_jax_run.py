"""Whole runs of `painter train` on Keras' JAX backend, in subprocesses (this process runs
on TensorFlow): a run started with `--backend jax` over 2 CPU devices and killed with
SIGKILL resumes on JAX, a learning rate changed during `fit` reaches the compiled step,
and a Ctrl-C inside a step stops the run after the step with a checkpoint, which resumes
on TensorFlow; a run trained one epoch on TensorFlow resumes on JAX over 2 devices and
over 1, each with the checkpoint's weights, optimizer state and step, and both end that
epoch with the same weights.

The JAX work is two subprocesses sharing a compilation cache (`runs`), with the work on
TensorFlow done here while they run: each JAX start-up and compile costs seconds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import backend_env, tiny_cyclegan
from painter.config import config_to_toml
from painter.rundir import read_run_record
from painter.train.callbacks import RunCallback
from painter.train.checkpoints import OPTIMIZERS, find_checkpoint, list_checkpoints
from painter.train.history import read_history

pytestmark = pytest.mark.slow

STEPS = 3  # steps per epoch of every run here
CONFIG = tiny_cyclegan(steps_per_epoch=STEPS, keep_checkpoints=2)


def h5_arrays(path) -> dict[str, np.ndarray]:
    """Every dataset of a Keras .weights.h5 file by its path."""
    arrays = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, item: arrays.__setitem__(name, item[()])
                     if isinstance(item, h5py.Dataset) else None)
    return arrays


def state_against_checkpoint(model, checkpoint: Path, scratch: Path) -> dict:
    """How far `model`'s networks and optimizers are from `checkpoint`'s files: the largest
    absolute difference per network and over the optimizer state, and each optimizer's
    step count."""
    scratch.mkdir(parents=True, exist_ok=True)
    manifest = json.loads((checkpoint / "manifest.json").read_text())
    found = {}
    for key, network in model.networks.items():
        network.save_weights(str(scratch / f"{key}.weights.h5"))
        ours = h5_arrays(scratch / f"{key}.weights.h5")
        theirs = h5_arrays(checkpoint / manifest["networks"][key]["file"])
        assert ours.keys() == theirs.keys()
        found[key] = max(float(np.max(np.abs(ours[k] - theirs[k]))) for k in ours)
    with np.load(checkpoint / OPTIMIZERS) as stored:
        found["optimizers"] = max(
            float(np.max(np.abs(np.asarray(v.numpy()) - stored[f"optimizer/{name}/{i}"])))
            for name, optimizer in model.optimizers.items()
            for i, v in enumerate(optimizer.variables))
    found["iterations"] = {name: int(o.iterations.numpy()) for name, o in model.optimizers.items()}
    return found


class ResumeCheck(RunCallback):
    """Before a resumed run's first step: its state against the checkpoint it resumed from
    (`state_against_checkpoint`), into `self.found`."""

    def __init__(self, checkpoint: Path, scratch: Path):
        super().__init__()
        self.checkpoint, self.scratch, self.found = checkpoint, scratch, None

    def on_train_batch_begin(self, batch, logs=None):
        if self.found is None:
            from painter.train.state import sync_model_state

            sync_model_state(self.model)
            self.found = state_against_checkpoint(self.run.model, self.checkpoint, self.scratch)


class InterruptAt(RunCallback):
    """Sends its own process SIGINT (Ctrl-C) as the run's global step `step` begins: on
    JAX it takes effect once that step is done (`StepInterrupts`)."""

    def __init__(self, step: int):
        super().__init__()
        self.step = step

    def on_train_batch_begin(self, batch, logs=None):
        if self.run.epoch_start_step + self.run.step_in_epoch + 1 == self.step:
            os.kill(os.getpid(), signal.SIGINT)


class StopLearningAfter(RunCallback):
    """Sets every learning rate to 0 after epoch `epoch`, as the time budget refits a
    schedule during `fit`, and keeps the weights then, in `self.weights`."""

    def __init__(self, epoch: int):
        super().__init__()
        self.epoch, self.weights = epoch, None

    def epoch_end(self, epoch, row):
        from painter.train.schedules import decaying_schedules

        if epoch == self.epoch:
            for schedule in decaying_schedules(self.run.model.optimizers).values():
                schedule.restore(learning_rate=0.0, constant_steps=1e9, decay_steps=1.0)
            self.weights = weight_arrays(self.run.model)


def weight_arrays(model) -> dict[str, np.ndarray]:
    return {w.path: np.array(w.numpy()) for network in model.networks.values()
            for w in network.weights}


def resume_checked(run_dir: Path, epochs: int, scratch: Path, **options):
    """Resumes `run_dir` to `epochs` epochs with a `ResumeCheck`; (result, found)."""
    from painter.train import train

    check = ResumeCheck(find_checkpoint(run_dir).path, scratch)
    callbacks = [check, *options.pop("callbacks", ())]
    result = train(CONFIG, data=options.pop("data"), out=run_dir, epochs=epochs, resume=True,
                   log=None, progress=False, callbacks=callbacks, **options)
    return result, check.found


# What the JAX subprocess runs: the killed run resumed, its learning rates set to 0 after
# its first epoch and a Ctrl-C as the next began (then a marker file: the test resumes it
# on TensorFlow meanwhile); the TensorFlow run resumed over 2 devices and a copy of it over
# 1, one epoch each.
JAX_SCRIPT = """
import json, shutil, sys, time
from pathlib import Path
started = time.monotonic()
import keras
import numpy as np
from test_jax_run import (CONFIG, STEPS, InterruptAt, StopLearningAfter, ResumeCheck,
                          resume_checked, weight_arrays)
from painter.train import find_checkpoint, train

killed, tf_run, data, out = (Path(a) for a in sys.argv[1:5])
results = {"backend": keras.backend.backend(), "seconds": {}}

last = find_checkpoint(killed)
check, stop = ResumeCheck(last.path, out / "scratch1"), StopLearningAfter(last.epoch + 1)
try:
    train(CONFIG, data=data, out=killed, epochs=last.epoch + 3, resume=True, log=None,
          progress=False, callbacks=[check, stop, InterruptAt(last.global_step + STEPS + 1)])
except KeyboardInterrupt:
    interrupted = find_checkpoint(killed)
    after = weight_arrays(stop.run.model)
    results["killed"] = dict(
        start=check.found,
        interrupted=[interrupted.epoch, interrupted.step_in_epoch, interrupted.global_step],
        moved_at_rate_0=max(float(np.max(np.abs(after[k] - stop.weights[k]))) for k in after))
(out / "killed_done").touch()
results["seconds"]["killed"] = time.monotonic() - started

shutil.copytree(tf_run, out / "tf_one")
images = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
for name, run, strategy in (("two", tf_run, "auto"), ("one", out / "tf_one", "cpu")):
    result, found = resume_checked(run, 2, out / f"scratch_{name}", data=data,
                                   strategy=strategy)
    results[name] = dict(start=found, global_step=result.global_step, iterations={
        k: int(o.iterations.numpy()) for k, o in result.model.optimizers.items()})
    arrays = weight_arrays(result.model)
    arrays.update({f"output/{k}": np.asarray(network(images, training=False))
                   for k, network in result.model.networks.items()})
    np.savez(out / f"{name}.npz", **arrays)
    results["seconds"][name] = time.monotonic() - started
print("RESULTS " + json.dumps(results))
"""


def _start(args, env, log: Path):
    """A subprocess whose output goes to `log` (a pipe nobody reads could fill and stall it),
    with SIGINT at its default: started from a shell's background job, the suite inherits
    SIGINT ignored, and a Python started so never raises KeyboardInterrupt."""
    with open(log, "w") as file:
        return subprocess.Popen(args, env=env, stdout=file, stderr=subprocess.STDOUT, text=True,
                                preexec_fn=_default_sigint)


def _default_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait(process, log: Path, done, what: str, timeout: float = 600) -> None:
    """Waits until `done()` while `process` runs (fails the test if it ends first)."""
    deadline = time.monotonic() + timeout
    while not done():
        if process.poll() is not None:
            pytest.fail(f"{what}: the subprocess ended first:\n{log.read_text()[-6000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not after {timeout} s")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, sample_dir):
    """Every run of this module. The subprocesses on JAX share a compilation cache, and
    the work on TensorFlow here runs while they do:

    1. `painter train --backend jax` over 2 CPU devices (JAX) | a CycleGAN trained one
       epoch on TensorFlow (here); the JAX run is killed with SIGKILL once its first
       epoch's checkpoint is written;
    2. `JAX_SCRIPT` (JAX) | once its Ctrl-C checkpoint is written, the killed run resumed
       one more epoch on TensorFlow (here).
    """
    from painter.train import train

    folder = tmp_path_factory.mktemp("runs")
    env = backend_env("jax", devices=2)  # with the suite's JAX compilation cache
    cli_env = dict(env)
    del cli_env["KERAS_BACKEND"]  # the option chooses
    config_path = folder / "tiny.toml"
    config_path.write_text(config_to_toml(CONFIG))
    killed, tf_run, out = folder / "jax", folder / "tf", folder / "out"
    out.mkdir()
    started, seconds = time.monotonic(), {}
    log = folder / "cli.log"
    process = _start([sys.executable, "-m", "painter", "train", str(config_path), "--backend",
                      "jax", "--data", str(sample_dir), "--out", str(killed), "--epochs", "1000"],
                     cli_env, log)
    try:
        train(CONFIG, data=sample_dir, out=tf_run, epochs=1, log=None, progress=False)
        seconds["tensorflow run"] = time.monotonic() - started
        _wait(process, log, lambda: any(c.numbered for c in list_checkpoints(killed)),
              "painter train --backend jax")
        time.sleep(1.0)  # into the next epoch
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    cli_output = log.read_text()
    seconds["killed"] = time.monotonic() - started
    assert process.returncode == -signal.SIGKILL
    killed_at = find_checkpoint(killed)

    script = JAX_SCRIPT.replace("sys.argv[1:5]", repr([str(killed), str(tf_run),
                                                       str(sample_dir), str(out)]))
    log = folder / "script.log"
    process = _start([sys.executable, "-c", script], env, log)
    try:
        _wait(process, log, (out / "killed_done").exists, "the resume on JAX")
        interrupted = find_checkpoint(killed)
        on_tensorflow = resume_checked(killed, interrupted.epoch + 1, out / "scratch3",
                                       data=sample_dir)
        seconds["resumed on tensorflow"] = time.monotonic() - started
        process.wait(timeout=600)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = log.read_text()
    seconds["script"] = time.monotonic() - started
    if process.returncode != 0:
        pytest.fail(f"the JAX script failed (rc {process.returncode}):\n{output[-6000:]}")
    line = next(line for line in output.splitlines() if line.startswith("RESULTS "))
    print("seconds:", {k: round(v, 1) for k, v in seconds.items()})
    return dict(jax=json.loads(line[len("RESULTS "):]), out=out, killed=killed,
                killed_at=killed_at, cli_output=cli_output, tf_run=tf_run,
                interrupted=interrupted, on_tensorflow=on_tensorflow)


def _assert_resumed_exactly(found: dict, checkpoint_step: int):
    """The state before the first resumed step is the checkpoint's, step count included."""
    assert all(found[key] == 0.0 for key in ("gen_G", "gen_F", "disc_X", "disc_Y")), found
    assert found["optimizers"] == 0.0, found
    assert set(found["iterations"].values()) == {checkpoint_step}, found


def test_a_jax_run_killed_with_sigkill_resumes_on_jax_then_stops_at_ctrl_c(runs):
    killed_at = runs["killed_at"]
    print("seconds in the JAX script:", {k: round(v, 1) for k, v in runs["jax"]["seconds"].items()})
    assert runs["jax"]["backend"] == "jax"
    assert "JAX DataParallel over 2 cpu devices" in runs["cli_output"], runs["cli_output"][-2000:]
    assert killed_at.epoch >= 1 and killed_at.step_in_epoch == 0
    assert killed_at.global_step == STEPS * killed_at.epoch
    killed = runs["jax"]["killed"]
    _assert_resumed_exactly(killed["start"], killed_at.global_step)
    # The Ctrl-C as the second epoch's first step began stopped the run after that step,
    # with a checkpoint there.
    assert killed["interrupted"] == [killed_at.epoch + 1, 1, killed_at.global_step + STEPS + 1]


def test_a_schedule_changed_during_fit_reaches_the_compiled_jax_step(runs):
    """A compiled JAX step holds what it is not handed as state as constants: a schedule
    changed during `fit` (as the time budget changes it) must reach it. Here the learning
    rates went to 0 after an epoch: the step after it moved no weight."""
    assert runs["jax"]["killed"]["moved_at_rate_0"] == 0.0


def test_a_run_trained_on_jax_resumes_on_tensorflow(runs):
    interrupted = runs["interrupted"]
    assert (interrupted.epoch, interrupted.step_in_epoch) == (runs["killed_at"].epoch + 1, 1)
    result, found = runs["on_tensorflow"]
    _assert_resumed_exactly(found, interrupted.global_step)
    final = STEPS * (interrupted.epoch + 1)
    assert result.global_step == final
    assert {int(o.iterations.numpy()) for o in result.model.optimizers.values()} == {final}
    assert [r["epoch"] for r in read_history(runs["killed"] / "history.csv")] == list(
        range(1, interrupted.epoch + 2))
    assert read_run_record(runs["killed"]) == {"backend": "tensorflow", "devices": 1}


@pytest.mark.parametrize("devices", ["one", "two"])
def test_a_run_trained_on_tensorflow_resumes_on_jax(runs, devices):
    moved = runs["jax"][devices]
    _assert_resumed_exactly(moved["start"], STEPS)
    assert moved["global_step"] == 2 * STEPS and set(moved["iterations"].values()) == {2 * STEPS}
    run_dir = runs["tf_run"] if devices == "two" else runs["out"] / "tf_one"
    assert [r["epoch"] for r in read_history(run_dir / "history.csv")] == [1, 2]
    assert read_run_record(run_dir) == {"backend": "jax", "devices": 2 if devices == "two" else 1}


def test_a_run_over_two_devices_ends_with_the_weights_of_one_device(runs):
    """The same epoch (from the same checkpoint, seed and batches) over 1 and 2 devices:
    each network computes the same function within 1e-4, its kernels agree within 1e-4.

    A conv bias that an instance norm follows is left to the outputs: the norm cancels
    it, so its gradient is 0 up to rounding, and Adam turns the rounding's sign into a
    step of up to ± the learning rate either way."""
    out = runs["out"]
    with np.load(out / "one.npz") as one, np.load(out / "two.npz") as two:
        assert one.files == two.files
        outputs = [k for k in one.files if k.startswith("output/")]
        kernels = [k for k in one.files if one[k].ndim > 1 and k not in outputs]
        assert len(outputs) == 4 and len(kernels) > 10
        worst = {k: float(np.max(np.abs(one[k] - two[k]))) for k in outputs + kernels}
    assert max(worst.values()) < 1e-4, max(worst.items(), key=lambda item: item[1])
