"""The per-step and per-epoch work of a training run, as Keras callbacks.

`painter.train.run.train` drives `model.fit` with these callbacks, in this order, all
sharing the run's `TrainingRun`:

    StepInterrupts      on JAX: Ctrl-C and SIGTERM inside a step are raised after it
    StepRecorder        counts and times the steps; at an epoch's end, its history row
    NonFiniteStop       a NaN/Inf loss stops the run (`TrainingError`), no checkpoint
    ProgressBar         one bar per epoch, on a terminal
    HeartbeatWriter     `heartbeat.json`, a sign of life for a watchdog
    SampleGrid          `samples/epoch_NNN.png` and TensorBoard images (keras.io's GANMonitor),
                        drawn by the generator's moving average when the run keeps one
    … the caller's callbacks (e.g. `painter.train.tracking.MiFIDTracker`) …
    TensorBoardScalars  the row's numbers into `logs/`
    BudgetPlanner       fits the epochs and the learning rate to the time budget
    HistoryWriter       `history.csv` and `loss.png`
    Checkpointer        `checkpoints/step_…`, then the epoch's line in the log
    BudgetStop          `model.stop_training` when the next step would overrun the budget
                        or the planned epochs are done

At an epoch's end the order is what makes the files agree: callbacks add columns to the
row before it is written, and the checkpoint's manifest carries the whole row and the
budget's plan. Keras calls `on_epoch_end` also after a stop in the middle of an epoch;
a `RunCallback`'s `epoch_end(epoch, row)` is called only for an epoch that ran all its
steps.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from typing import Sequence

import keras
import numpy as np

from painter.errors import TrainingError
from painter.train.budget import format_duration
from painter.train.ema import generator_ema
from painter.train.state import TrainingRun


class RunCallback(keras.callbacks.Callback):
    """A Keras callback that sees the run in progress (`self.run`, a `TrainingRun`).

    Override Keras' hooks as usual; for the end of an epoch that ran all its steps,
    override `epoch_end(epoch, row)` (epoch counted from 1; `row` is the epoch's
    history row: add a column by setting a key).
    """

    def __init__(self):
        super().__init__()
        self.run: TrainingRun | None = None

    def set_run(self, run: TrainingRun) -> None:
        self.run = run

    def on_epoch_end(self, epoch, logs=None):
        if self.run is not None and self.run.epoch_complete:
            self.epoch_end(self.run.epoch, self.run.row)

    def epoch_end(self, epoch: int, row: dict) -> None:
        """Called after each complete epoch, with the run's row for it."""


def scalar(value) -> float:
    """A logged value as a float (multi-worker steps return shape (1,): `step_logs`)."""
    return float(np.asarray(value).reshape(-1)[0])


def scalar_logs(logs) -> dict[str, float]:
    """A step's logs as floats."""
    return {k: scalar(v) for k, v in (logs or {}).items()}


class StepInterrupts(keras.callbacks.Callback):
    """Holds Ctrl-C and SIGTERM back while Keras' JAX `fit` runs a step, and raises them
    right after it.

    JAX's `fit` empties the model's variables and hands their values to the compiled
    step, which consumes (donates) them; it keeps the step's results only once the step
    returns. An interrupt raised inside the step (the first one traces and compiles for
    seconds, minutes on a TPU) would leave nothing to put back: no checkpoint could be
    written. Raised after it, the run writes its checkpoint as on TensorFlow. Works from
    the main thread only (Python's rule for signal handlers); elsewhere it does nothing.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        super().__init__()
        self._saved: dict | None = None
        self._held: list = []

    def _hold(self, signum, frame):
        self._held.append((signum, frame))

    def on_train_batch_begin(self, batch, logs=None):
        if threading.current_thread() is not threading.main_thread():
            return
        self._held = []
        self._saved = {number: signal.signal(number, self._hold) for number in self.SIGNALS}

    def on_train_batch_end(self, batch, logs=None):
        self.release()

    def release(self, deliver: bool = True) -> None:
        """Puts the signal handlers back and, with `deliver`, calls them for the signals
        held back (`fit` calls no callback when a step raises: `train` releases then
        without delivering)."""
        if self._saved is None:
            return
        saved, self._saved = self._saved, None
        for number, handler in saved.items():
            signal.signal(number, handler)
        for signum, frame in self._held if deliver else ():
            handler = saved[signum]
            if callable(handler):
                handler(signum, frame)  # Python's SIGINT handler raises KeyboardInterrupt
            elif handler == signal.SIG_DFL:
                signal.raise_signal(signum)


class StepRecorder(RunCallback):
    """Advances the run's step and epoch, times the steps for the budget, and builds each
    complete epoch's row: epoch, step, seconds, lr (its last step's) and the epoch means
    of the model's metrics."""

    def __init__(self):
        super().__init__()
        self._step_started = 0.0
        self._epoch_started = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_started = time.monotonic()
        self.run.epoch_complete = False

    def on_train_batch_begin(self, batch, logs=None):
        self._step_started = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        run = self.run
        run.deadline.record_step(time.monotonic() - self._step_started)
        run.step_in_epoch += 1
        run.steps_since_checkpoint += 1
        run.last_logs = scalar_logs(logs)

    def on_epoch_end(self, epoch, logs=None):
        from painter.train.schedules import learning_rate_at

        run = self.run
        run.epoch_complete = run.step_in_epoch >= run.steps_per_epoch
        if not run.epoch_complete:
            return
        run.epoch_end_started = time.monotonic()
        model = run.model
        run.epoch_metrics = {m.name: scalar(m.result()) for m in model.metrics}
        first_optimizer = next(iter(model.optimizers.values()))
        run.epoch, run.step_in_epoch = run.epoch + 1, 0
        run.epoch_start_step = run.global_step
        run.row = {
            "epoch": run.epoch,
            "step": run.global_step,
            "seconds": round(run.epoch_end_started - self._epoch_started, 3),
            # its last step's, counted in its own steps (a staged run leaves it idle in some)
            "lr": learning_rate_at(first_optimizer,
                                   max(int(first_optimizer.iterations.numpy()) - 1, 0)),
            **run.epoch_metrics,
        }


class NonFiniteStop(RunCallback):
    """Stops the run at a NaN/Inf loss with a `TrainingError` naming the epoch, the step,
    the values and the last good checkpoint; nothing more is written."""

    def on_train_batch_end(self, batch, logs=None):
        run = self.run
        bad = {k: v for k, v in run.last_logs.items() if not math.isfinite(v)}
        if bad:
            values = ", ".join(f"{k}={v}" for k, v in bad.items())
            kept = run.last_checkpoint or "none written yet"
            raise TrainingError(
                f"non-finite loss at epoch {run.epoch + 1}, step {run.step_in_epoch}: {values}; "
                f"training stopped, last good checkpoint: {kept}"
            )


class ProgressBar(RunCallback):
    """One bar per epoch, the losses beside it (`painter.progress`), on a terminal only:
    off one (a Kaggle log) the epoch lines suffice."""

    def __init__(self, enabled: bool = True):
        super().__init__()
        self.enabled = enabled
        self._bar = None

    def on_epoch_begin(self, epoch, logs=None):
        from painter.progress import progress_bar

        if self.enabled:
            run = self.run
            self._bar = progress_bar(run.steps_per_epoch, f"epoch {epoch + 1}/{run.planned_epochs}",
                                     unit="steps", log_lines=0)
            self._bar.update(run.step_in_epoch)

    def on_train_batch_end(self, batch, logs=None):
        if self._bar is not None:
            self._bar.update(self.run.step_in_epoch, self.run.last_logs)

    def on_epoch_end(self, epoch, logs=None):
        self._close()

    def on_train_end(self, logs=None):
        self._close()

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class HeartbeatWriter(RunCallback):
    """Rewrites heartbeat.json every few seconds, at once after the first step (tracing and
    compiling make it the slowest) and at each epoch's end."""

    def __init__(self):
        super().__init__()
        self._first_done = False

    def on_train_batch_end(self, batch, logs=None):
        self.run.beat(force=not self._first_done)
        self._first_done = True

    def epoch_end(self, epoch, row):
        self.run.beat(force=True)


class SampleGrid(RunCallback):
    """Each epoch's sample grid of the family (`Family.sample_grid`) of fixed inputs:
    `samples/epoch_NNN.png`, and the same images in TensorBoard."""

    def __init__(self, family, inputs: np.ndarray, folder, writer=None):
        super().__init__()
        self.family = family
        self.inputs = inputs
        self.folder = folder
        self.writer = writer

    def epoch_end(self, epoch, row):
        from painter.viz import save_image_grid

        model = self.run.model
        if generator_ema(model) is not None:
            # What the run generates with: its generator's moving average.
            images, cols = self.family.sample_grid(model, self.inputs,
                                                   generator=self.family.output_generator(model))
        else:
            images, cols = self.family.sample_grid(model, self.inputs)
        save_image_grid(images, self.folder / f"epoch_{epoch:03d}.png", cols, force=True)
        if self.writer is not None:
            self.writer.images("samples", images, step=epoch)


class TensorBoardScalars(RunCallback):
    """The row's numbers (what the callbacks before added included) into TensorBoard."""

    def __init__(self, writer):
        super().__init__()
        self.writer = writer

    def epoch_end(self, epoch, row):
        self.writer.scalars({k: v for k, v in row.items() if k not in ("epoch", "step")},
                            step=epoch)
        self.writer.flush()


class BudgetPlanner(RunCallback):
    """Under a time budget: records the epoch end's own time, then plans the epochs that
    still fit and fits the learning rate to them (`TrainingRun.fit_to_budget`); the plan
    goes into the row (`planned_epochs`)."""

    def epoch_end(self, epoch, row):
        run = self.run
        run.deadline.record_epoch_end(time.monotonic() - run.epoch_end_started)
        if run.deadline.budget is not None:
            run.fit_to_budget()
            row["planned_epochs"] = run.planned_epochs


class HistoryWriter(RunCallback):
    """Appends the row to the run's history and rewrites history.csv and loss.png."""

    def __init__(self, csv_path, png_path):
        super().__init__()
        self.csv_path = csv_path
        self.png_path = png_path

    def epoch_end(self, epoch, row):
        from painter.train.history import plot_history, write_history

        self.run.history.append(row)
        write_history(self.run.history, self.csv_path)
        plot_history(self.run.history, self.png_path)


class Checkpointer(RunCallback):
    """Writes the epoch's numbered checkpoint (its manifest's metrics: the row's numbers),
    then logs the epoch's line."""

    def epoch_end(self, epoch, row):
        run = self.run
        run.last_logs = {k: v for k, v in row.items()
                         if isinstance(v, (int, float)) and not isinstance(v, bool)}
        run.save_checkpoint()
        run.beat(force=True)
        values = "  ".join(f"{k}={v:.4g}" for k, v in run.epoch_metrics.items())
        run.log(f"epoch {epoch}/{run.planned_epochs}: {values}  "
                f"({format_duration(row['seconds'])})")


class BudgetStop(RunCallback):
    """Ends `fit` between two steps: when the next step (and the checkpoint after it)
    would overrun the time budget (every worker agreeing), or once the planned epochs are
    done. Sets `run.stopped` to "time_budget" for a budget stop."""

    def on_train_batch_end(self, batch, logs=None):
        run = self.run
        if run.step_in_epoch < run.steps_per_epoch:
            self._stop_if_next_step_overruns(last=run.step_in_epoch == run.steps_per_epoch - 1)

    def epoch_end(self, epoch, row):
        run = self.run
        if run.epoch >= run.planned_epochs:
            self.model.stop_training = True
        else:
            self._stop_if_next_step_overruns(last=run.steps_per_epoch == 1)

    def _stop_if_next_step_overruns(self, last: bool) -> None:
        from painter.train.strategy import replicas_agree

        run = self.run
        if run.deadline.budget is not None and replicas_agree(
            run.strategy, run.deadline.should_stop(last)
        ):
            run.stopped = "time_budget"
            self.model.stop_training = True


def run_callbacks(run: TrainingRun, family, sample_inputs: np.ndarray, writer, *,
                  callbacks: Sequence[keras.callbacks.Callback] = (),
                  progress: bool = True) -> list[keras.callbacks.Callback]:
    """The callbacks `train` runs, in their order (module docstring), the caller's
    `callbacks` after the sample grid; every `RunCallback` among them gets the run."""
    from painter.rundir import HISTORY_CSV, LOSS_PNG, SAMPLES_DIR

    ordered = [
        *([StepInterrupts()] if keras.backend.backend() == "jax" else []),
        StepRecorder(),
        NonFiniteStop(),
        ProgressBar(progress),
        HeartbeatWriter(),
        SampleGrid(family, sample_inputs, run.run_dir / SAMPLES_DIR, writer),
        *callbacks,
        TensorBoardScalars(writer),
        BudgetPlanner(),
        HistoryWriter(run.run_dir / HISTORY_CSV, run.run_dir / LOSS_PNG),
        Checkpointer(),
        BudgetStop(),
    ]
    for callback in ordered:
        if isinstance(callback, RunCallback):
            callback.set_run(run)
    return ordered
