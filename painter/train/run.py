"""`train()`: one training run from a config to a run directory (`painter.rundir`).

The loop is Keras' own compiled train function (the model's `train_step` under the
strategy), called one step at a time, so a run can stop between any two steps: for a time
budget, on Ctrl-C (both write a checkpoint first), or on a NaN/Inf loss (which writes
none, keeping the last good one).

Under a time budget, each epoch's end projects the whole epochs that still fit (measured
step, epoch-end and checkpoint times: `Deadline.epochs_that_fit`), at most `epochs`, and
fits the learning-rate schedule to them: the config's constant:decay proportion over the
planned epochs, the decay ending with the last one, where the run then stops. The plan is
kept in each checkpoint's manifest, so a resumed run goes on with the same schedule (one
that its budget cut short, epochs done but the rate not yet 0, is planned again).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from painter.config import Config, config_to_toml
from painter.errors import CheckpointError, TrainingError, UsageError
from painter.io import atomic_path
from painter.rundir import CONFIG_TOML, DATA_JSON, HISTORY_CSV, LOGS_DIR, LOSS_PNG, RUN_ENTRIES, SAMPLES_DIR
from painter.train import checkpoints as ckpt
from painter.train.budget import Deadline, format_duration, parse_duration
from painter.train.heartbeat import Heartbeat
from painter.train.history import plot_history, read_history, write_history
from painter.train.strategy import (
    describe_strategy,
    jit_allowed,
    pick_strategy,
    replicas_agree,
    tf_config_worker,
    workers_min,
)

KAGGLE_ROOT = Path("/kaggle/input/gan-getting-started")


@dataclasses.dataclass
class RunResult:
    """What `train` returns.

    Attributes:
        run_dir: the run directory written (for a non-chief worker of a multi-worker run,
            its own `RUN_DIR.workerN`).
        config: the resolved config (with the epochs and steps per epoch used).
        model: the trained `CycleGAN` or `NoiseGAN`.
        history: the rows of history.csv.
        epochs_completed: epochs finished, resumed ones included.
        global_step: optimizer steps since the run began.
        stopped: "completed", or "time_budget" when the budget ended it before `epochs`
            (at the planned epoch, or mid-epoch when even that did not fit).
        last_checkpoint: the newest checkpoint folder (None if none was written).
        resumed_from: the checkpoint a `--resume` started from, else None.
        planned_epochs: the epochs the time budget was planned to fit (None without a
            budget).
    """

    run_dir: Path
    config: Config
    model: object
    history: list
    epochs_completed: int
    global_step: int
    stopped: str
    last_checkpoint: Path | None
    resumed_from: Path | None = None
    planned_epochs: int | None = None


class TrainingRun:
    """What a hook sees of a run in progress.

    Epoch hooks are called as `hook(run, epoch, logs)` after each epoch (epoch counted
    from 1), before its row is written and its checkpoint saved: a hook may add values to
    `logs` (they become history.csv columns and go into the checkpoint's manifest) and
    may call `run.save_checkpoint("best")`. Step hooks are called as
    `hook(run, global_step, logs)` after every step.

    Attributes:
        run_dir, config, model, strategy, history, log: as their names say.
        deadline: the run's `Deadline` (`deadline.left()` seconds remain).
        planned_epochs: the epoch the run ends with: `config.epochs`, or fewer where a
            time budget fits fewer (`fit_to_budget`).
        heartbeat: the run's `Heartbeat` once the run directory exists, else None.
    """

    def __init__(self, run_dir, config, model, strategy, log, deadline, heartbeat=None):
        self.run_dir = Path(run_dir)
        self.config = config
        self.model = model
        self.strategy = strategy
        self.log = log
        self.deadline = deadline
        self.heartbeat = heartbeat
        self.history: list[dict] = []
        self.epoch = 0  # epochs completed
        self.step_in_epoch = 0
        self.planned_epochs = config.epochs
        self._plan_logged = False
        self.last_logs: dict[str, float] = {}
        self.last_checkpoint: Path | None = None

    @property
    def global_step(self) -> int:
        first = next(iter(self.model.optimizers.values()))
        return int(first.iterations.numpy())

    def save_checkpoint(self, name: str | None = None, metrics: dict | None = None) -> Path:
        """Writes a checkpoint of the current state: numbered (pruned to the config's
        `keep_checkpoints`) by default, or under a fixed `name` such as "best"."""
        started = time.monotonic()
        path = ckpt.save_checkpoint(
            self.run_dir,
            self.model,
            self.config,
            epoch=self.epoch,
            step_in_epoch=self.step_in_epoch,
            global_step=self.global_step,
            metrics=self.last_logs if metrics is None else metrics,
            name=name,
            keep=self.config.keep_checkpoints,
            plan=self.plan(),
        )
        self.deadline.record_checkpoint(time.monotonic() - started)
        if name is None:
            self.last_checkpoint = path
        return path

    def beat(self, force: bool = False) -> None:
        """Rewrites heartbeat.json (throttled unless `force`)."""
        # The throttle is asked first: `global_step` reads the optimizer's step counter
        # from the device, which every step would otherwise pay for.
        if self.heartbeat is not None and (force or self.heartbeat.due()):
            self.heartbeat.beat(self.epoch, self.step_in_epoch, self.global_step, force=True)

    # ---- fitting the schedule to a time budget ----

    def plan(self) -> dict:
        """What the time budget fitted, for the checkpoint manifest ({} without a budget)."""
        if self.deadline.budget is None:
            return {}
        from painter.train.schedules import decaying_schedules

        return {
            "planned_epochs": self.planned_epochs,
            "schedules": {
                name: schedule.lengths()
                for name, schedule in decaying_schedules(self.model.optimizers).items()
            },
        }

    def restore_plan(self, plan: dict) -> bool:
        """Goes on with the plan a checkpoint recorded (`plan`): its epochs (at most the
        config's) and each schedule as it was. Call it once `epoch` and `step_in_epoch`
        are the checkpoint's.

        A plan whose epochs are all done while a learning rate is still above 0 was cut
        short by its budget (no further epoch fitted), not finished: kept as it is, the
        resumed run would stop before its first step. It is planned again instead, as a
        new run is: the config's epochs, each schedule going from its current rate
        (no jump) to 0 at their end, until this run's first epoch measures the budget.
        A plan longer than the config's epochs (`--epochs` lowered for the resume) ends
        with them, its schedules too.

        Returns:
            Whether the plan was cut short and planned again.
        """
        from painter.train.schedules import decaying_schedules

        stored_epochs = int(plan.get("planned_epochs", self.config.epochs))
        self.planned_epochs = min(stored_epochs, self.config.epochs)
        stored = plan.get("schedules", {})
        schedules = decaying_schedules(self.model.optimizers)
        for name, schedule in schedules.items():
            if name in stored:
                schedule.restore(**stored[name])
        step = self.global_step
        cut_short = (
            self.planned_epochs <= self.epoch < self.config.epochs
            and any(s.rate_at(step) > 0 for s in schedules.values())
        )
        if cut_short:
            self.planned_epochs = self.config.epochs
        if cut_short or stored_epochs > self.config.epochs:
            self._fit_schedules(step)
        return cut_short

    def _fit_schedules(self, step: int) -> None:
        """Fits each decaying schedule to end with `planned_epochs`, from `step` on."""
        from painter.train.schedules import decaying_schedules

        epochs = self.config.epochs
        decay_fraction = min(max(getattr(self.config, "decay_epochs", 0), 0), epochs) / epochs
        steps = self.config.steps_per_epoch
        end_step = step + (self.planned_epochs - self.epoch) * steps - self.step_in_epoch
        for schedule in decaying_schedules(self.model.optimizers).values():
            schedule.fit_end(end_step, decay_fraction, step)

    def fit_to_budget(self) -> None:
        """At an epoch's end under a time budget: plans the epochs that still fit (at most
        the config's; the same on every worker) and fits each decaying learning-rate
        schedule to end at the last of them (`ConstantThenLinearDecay.fit_end`)."""
        from painter.train.schedules import decaying_schedules

        steps = self.config.steps_per_epoch
        # Called before this epoch's own checkpoint is written.
        fits = self.deadline.epochs_that_fit(steps, pending=self.deadline.checkpoint_seconds)
        projected = workers_min(self.strategy, self.epoch + fits)
        schedules = decaying_schedules(self.model.optimizers)
        step = self.global_step
        if projected < self.planned_epochs:
            planned = projected  # shrinks as soon as the plan no longer fits
        elif projected >= self.planned_epochs + 2 and not any(
            s.rate_at(step) <= 0 for s in schedules.values()
        ):
            # Grows only by a clear margin, keeping one epoch spare, so that the noise of
            # the estimates does not move the schedule back and forth (and not once the
            # rate has decayed to 0: epochs at a rate of 0 would change nothing).
            planned = min(self.config.epochs, projected - 1)
        else:
            return
        if planned == self.planned_epochs:
            return
        self.planned_epochs = planned
        self._fit_schedules(step)
        if not self._plan_logged:  # later changes show in the epoch lines ("epoch 7/41")
            self._plan_logged = True
            self.log(
                f"time budget: {planned} of {self.config.epochs} epochs fit (about "
                f"{format_duration(self.deadline.epoch_seconds(steps))} each; planned again "
                "after each epoch)"
                + ("; the learning rate decays to 0 at the last" if schedules else "")
            )


EpochHook = Callable[[TrainingRun, int, dict], None]
StepHook = Callable[[TrainingRun, int, dict], None]


# ---- small pieces --------------------------------------------------------------------


def default_data_root() -> Path:
    """Kaggle's input folder when it exists, else the embedded sample."""
    if KAGGLE_ROOT.is_dir():
        return KAGGLE_ROOT
    from painter.data import SAMPLE_ROOT

    return Path(SAMPLE_ROOT)


def worker_run_dir(out: Path, worker: tuple[int, int] | None) -> Path:
    """`out` for the chief; `out.workerN` beside it for worker N of a multi-worker run.

    Every worker writes a run of its own (its checkpoints let one check that all workers
    hold the same weights) without racing the chief for the same files.
    """
    if worker is None or worker[1] <= 1 or worker[0] == 0:
        return out
    return out.with_name(f"{out.name}.worker{worker[0]}")


def _check_positive(name: str, value) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise UsageError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")


def _prepare_run_dir(run_dir: Path, resume: bool, force: bool) -> None:
    """Refuses an existing run without --resume/--force; checks a resume has a run."""
    if resume:
        if not run_dir.is_dir():
            raise UsageError(f"{run_dir}: no run to resume (no such directory)")
        return
    if run_dir.exists() and not force:
        raise UsageError(f"{run_dir} exists; pass --resume to continue it or --force to replace it")
    if run_dir.exists() and not run_dir.is_dir():
        raise UsageError(f"{run_dir} exists and is not a directory")


def _clear_run_dir(run_dir: Path) -> None:
    """--force: removes what a run writes, and only that."""
    for entry in RUN_ENTRIES:
        path = run_dir / entry
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _finite_or_raise(logs: dict, run: TrainingRun) -> None:
    bad = {k: v for k, v in logs.items() if not math.isfinite(v)}
    if bad:
        values = ", ".join(f"{k}={v}" for k, v in bad.items())
        kept = run.last_checkpoint or "none written yet"
        raise TrainingError(
            f"non-finite loss at epoch {run.epoch + 1}, step {run.step_in_epoch}: {values}; "
            f"training stopped, last good checkpoint: {kept}"
        )


class _Progress:
    """A Keras progress bar on a terminal; silent otherwise (the epoch lines suffice)."""

    def __init__(self, steps: int, names: Sequence[str], enabled: bool):
        self.bar = None
        if enabled and sys.stdout.isatty():
            import keras

            self.bar = keras.utils.Progbar(steps, stateful_metrics=list(names))

    def update(self, step: int, logs: dict) -> None:
        if self.bar is not None:
            self.bar.update(step, list(logs.items()))


# ---- data and models -----------------------------------------------------------------


def _datasets(config, root: Path, steps_per_epoch: int | None, seed: int, photos=None):
    """(repeated training dataset, steps per epoch) of the config's family; `photos`
    (CycleGAN) replaces the root's photos, e.g. by those a photo split leaves to training."""
    from painter.data import count_images, monet_dataset, unpaired_dataset

    if config.family == "cyclegan":
        dataset = unpaired_dataset(
            photos if photos is not None else (root, "photo"),
            (root, "monet"),
            batch_size=config.batch_size,
            image_size=config.image_size,
            augment=config.augment,
            seed=seed,
        )
        steps = int(dataset.cardinality().numpy())
    else:
        monets = count_images((root, "monet"))
        if monets < config.batch_size:
            raise UsageError(
                f"{root}: {monets} Monets, fewer than one batch of {config.batch_size}"
            )
        dataset = monet_dataset(
            root,
            image_size=config.image_size,
            batch_size=config.batch_size,
            shuffle=True,
            augment=config.augment,
            repeat=True,
            # 300 decoded Monets are 59 MB: decoding them again every epoch cost 10 % of a
            # noise-GAN step at 128 px (docs/BENCHMARKS.md, --ablate "synthetic input").
            cache=True,
            seed=seed,
        )
        steps = monets // config.batch_size
    return dataset.repeat(), steps_per_epoch or steps


def _fixed_inputs(config, root: Path, model):
    """What every epoch's sample grid shows: the first photos, or seeded latents."""
    count = max(1, config.sample_images)
    if config.family == "cyclegan":
        from painter.data import photo_dataset

        photos = photo_dataset(root, image_size=config.image_size, shuffle=False)
        return np.stack([image.numpy() for image in photos.take(count)])
    return np.asarray(model.sample_latents(count, seed=config.seed))


def _match_from_data(model, config, root: Path, tracking, log):
    """Sets a fresh CycleGAN's data-derived start from training photos (never held-out
    ones): `painter.train.cyclegan.match_from_data`; then a stylizer base's, whose
    strength is measured on the tracking photos (`start_stylizer_base`). Returns the
    config with the strength chosen, for config.toml."""
    from painter.metrics.features import decode_photos, decoded_images
    from painter.train.cyclegan import match_from_data

    if tracking:
        # Every k-th training photo: a spread of the whole set, not its first names.
        files = tracking.training_photos
        photos = (decode_photos([f], config.image_size)[0] for f in files[:: max(1, len(files) // 1000)])
    else:
        photos = decoded_images((root, "photo"))
    match_from_data(model, config, photos, decoded_images((root, "monet")), log=log)
    if getattr(config, "base", "photo") == "stylizer":
        from painter.models.generators import start_stylizer_base

        tracker = next((h for h in getattr(tracking, "hooks", ()) if hasattr(h, "score")), None)
        score = (lambda g: tracker.score(g, config.image_size)["mifid"]) if tracker else None
        strength = start_stylizer_base(model.gen_G, config, decoded_images((root, "monet")),
                                       score=score, log=log)
        config = dataclasses.replace(config, base_strength=strength)
    return config


def _sample_images(config, model, inputs) -> np.ndarray:
    if config.family == "cyclegan":
        outputs = np.asarray(model.gen_G(inputs, training=False))
        return np.concatenate([inputs, outputs])  # photos above their translations
    return np.asarray(model.generator(inputs, training=False))


def build_training_model(config, steps_per_epoch: int, strategy, jit_compile: bool):
    """The family's training model, built and compiled inside `strategy.scope()` under
    the config's dtype policy."""
    with strategy.scope(), ckpt.dtype_policy(config.mixed_precision):
        if config.family == "cyclegan":
            from painter.train.cyclegan import build_cyclegan, compile_cyclegan

            model = build_cyclegan(config)
            compile_cyclegan(model, config, steps_per_epoch, jit_compile)
        else:
            from painter.train.noise_gan import build_noise_gan, compile_noise_gan

            model = build_noise_gan(config)
            compile_noise_gan(model, config, jit_compile)
    return model


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _run_step(model, iterator, log) -> dict:
    """One compiled step; if XLA cannot compile it on this device, recompiles without XLA."""
    import tensorflow as tf

    try:
        outputs = model.train_function(iterator)
    except (
        tf.errors.InvalidArgumentError, tf.errors.UnimplementedError, tf.errors.InternalError
    ) as e:
        if not model.jit_compile:
            raise
        reason = _first_line(e)[:160]
        log(f"XLA could not compile the train step here ({reason}); going on without it")
        model.jit_compile = False
        model.make_train_function(force=True)
        outputs = model.train_function(iterator)
    # Scalars, or shape (1,) under multi-worker training (`step_logs`).
    return {k: float(np.asarray(v).reshape(-1)[0]) for k, v in outputs.items()}


# ---- the run -------------------------------------------------------------------------


def train(
    config: Config,
    *,
    data: str | os.PathLike | None = None,
    out: str | os.PathLike,
    epochs: int | None = None,
    steps_per_epoch: int | None = None,
    time_budget: str | float | None = None,
    resume: bool = False,
    force: bool = False,
    strategy: str = "auto",
    log: Callable[[str], None] | None = print,
    epoch_hooks: Sequence[EpochHook] = (),
    step_hooks: Sequence[StepHook] = (),
    progress: bool = True,
) -> RunResult:
    """Trains the config's model family and writes a run directory (module docstring).

    Args:
        config: a `CycleGANConfig` or `NoiseGANConfig` (`load_config`).
        data: a Kaggle-layout root (`monet_tfrec/` or `monet_jpg/`, and for CycleGAN
            `photo_tfrec/` or `photo_jpg/`). Default None: /kaggle/input/gan-getting-started
            when it exists, else the embedded sample (`painter.data.SAMPLE_ROOT`).
        out: the run directory.
        epochs: overrides `config.epochs` (the total, resumed epochs included).
        steps_per_epoch: overrides `config.steps_per_epoch`; when both are 0/None, one
            pass over the photos (CycleGAN) or the Monets (noise GAN).
        time_budget: stop in time to write a final checkpoint before this much wall time
            ("4h30m", "90m", "3600s", "1.5h", or seconds) from the call. Default None.
        resume: continue the run in `out` from its last checkpoint (weights, optimizer
            state, epoch and step; the config must build the same networks).
        force: replace an existing run in `out` (only what a run writes is removed).
        strategy: "auto" (default), "tpu", "mirrored", "multiworker" or "cpu"
            (`pick_strategy`).
        log: where progress lines go. Default print; None for silence.
        epoch_hooks: called after each epoch (`TrainingRun`), e.g. to track a score.
        step_hooks: called after each step (`TrainingRun`).
        progress: show a Keras progress bar when stdout is a terminal. Default True.

    Returns:
        A `RunResult`.

    Raises:
        UsageError: bad options, an existing `out` without `resume`/`force`, a resume with
            nothing to resume, a missing data root.
        ConfigError / DataError: from the config or the data.
        CheckpointError: the checkpoint to resume is of another model or shape.
        TrainingError: a NaN/Inf loss (the last good checkpoint is kept).
        KeyboardInterrupt: after writing a checkpoint to resume from.
    """
    log = log or (lambda message: None)
    _check_positive("epochs", epochs)
    _check_positive("steps_per_epoch", steps_per_epoch)
    budget = parse_duration(time_budget) if time_budget is not None else None
    deadline = Deadline(budget)
    root = Path(data) if data is not None else default_data_root()
    if not root.is_dir():
        raise UsageError(f"--data {root}: no such directory")

    # The run directory is checked before a strategy starts (a multi-worker one waits
    # for every worker), so a refused run costs nothing.
    run_dir = worker_run_dir(Path(out), tf_config_worker(strategy))
    _prepare_run_dir(run_dir, resume, force)
    # MiFID tracking: held-out photos and missing FID weights fail here, first.
    from painter.train.tracking import prepare_tracking

    tracking = prepare_tracking(config, root, log=log)
    if tracking and resume:
        tracking.check_resume(run_dir)
    chosen = pick_strategy(strategy, log=log)
    resume_from = None
    if resume:
        resume_from = ckpt.find_checkpoint(run_dir, "last")
        ckpt.check_compatible(resume_from, config)

    replicas = chosen.num_replicas_in_sync
    if config.batch_size % replicas:
        raise UsageError(
            f"batch_size {config.batch_size} does not split evenly over {replicas} replicas"
        )
    start_epoch = resume_from.epoch if resume_from else 0
    if resume_from and not (steps_per_epoch or config.steps_per_epoch):
        # The resumed run keeps its epoch length unless told otherwise.
        steps_per_epoch = resume_from.steps_per_epoch or None
    # A new shuffle order after a resume, not a replay of the first epochs.
    dataset, steps = _datasets(
        config, root, steps_per_epoch or config.steps_per_epoch or None, config.seed + start_epoch,
        photos=tracking.training_photos if tracking else None,
    )
    config = dataclasses.replace(
        config, epochs=epochs or config.epochs, steps_per_epoch=steps
    )
    jit = bool(config.jit_compile and jit_allowed(chosen))
    if config.jit_compile and not jit:
        log(f"jit_compile: off under {describe_strategy(chosen)} (XLA cannot span its devices)")
    model = build_training_model(config, steps, chosen, jit)
    if resume_from:
        ckpt.restore_checkpoint(resume_from, model, config)
    elif config.family == "cyclegan" and config.starts_from_data:
        config = _match_from_data(model, config, root, tracking, log)
    fixed_inputs = _fixed_inputs(config, root, model)

    # Everything that can fail on bad input has run: now the run directory is written.
    if force and not resume:
        _clear_run_dir(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt.clear_partial_writes(run_dir)
    with atomic_path(run_dir / CONFIG_TOML, force=True) as temp:
        temp.write_text(config_to_toml(config))
    with atomic_path(run_dir / DATA_JSON, force=True) as temp:
        temp.write_text(json.dumps({"data_root": str(root.resolve())}) + "\n")
    if tracking:
        tracking.write(run_dir)
        epoch_hooks = (*epoch_hooks, *tracking.hooks)

    run = TrainingRun(run_dir, config, model, chosen, log, deadline, Heartbeat(run_dir))
    if resume_from:
        run.epoch, run.step_in_epoch = resume_from.epoch, resume_from.step_in_epoch
        if run.step_in_epoch >= steps:  # stopped after an epoch's last step
            run.epoch, run.step_in_epoch = run.epoch + 1, 0
        rows = read_history(run_dir / HISTORY_CSV)
        run.history = [r for r in rows if r.get("epoch", 0) <= run.epoch]
        run.last_checkpoint = resume_from.path
        log(
            f"resumed from {resume_from.path} (epoch {run.epoch}, step {run.step_in_epoch} "
            f"of the next, global step {run.global_step})"
        )
        if resume_from.plan and budget is not None:
            if run.restore_plan(resume_from.plan):
                log(f"time budget: the last run's plan of {resume_from.plan['planned_epochs']} "
                    "epochs ended before its learning rate reached 0; planned again after "
                    "this run's first epoch")
            else:
                log(f"time budget: going on with the plan of {run.planned_epochs} epochs "
                    "until this run's first epoch ends")
        elif resume_from.plan:
            log(f"no --time-budget: the config's schedule for {config.epochs} epochs replaces "
                f"the one fitted to {resume_from.plan.get('planned_epochs')} epochs")
    if not resume_from:
        # A hook may score the untrained model first (`MiFIDTracker.start`): the bar every
        # tracked epoch must beat to become `best`.
        for hook in epoch_hooks:
            row = hook.start(run) if hasattr(hook, "start") else None
            if row is not None:
                run.history.append(row)
                write_history(run.history, run_dir / HISTORY_CSV)
    log(
        f"training {config.family} for {config.epochs} epochs of {steps} steps, global batch "
        f"{config.batch_size}, on {describe_strategy(chosen)}{', XLA' if jit else ''} → {run_dir}"
        + (f", time budget {format_duration(budget)}" if budget else "")
    )

    from painter.train.tensorboard import EventWriter

    writer = EventWriter(run_dir / LOGS_DIR)
    iterator = iter(chosen.experimental_distribute_dataset(dataset))
    model.make_train_function()
    stopped = "completed"
    steps_since_checkpoint = 0
    first_step_done = False
    run.beat(force=True)
    try:
        while run.epoch < run.planned_epochs:
            epoch_started = time.monotonic()
            model.reset_metrics()
            progress_bar = _Progress(steps, [m.name for m in model.metrics], progress)
            while run.step_in_epoch < steps:
                last = run.step_in_epoch == steps - 1
                budgeted = deadline.budget is not None
                if budgeted and replicas_agree(chosen, deadline.should_stop(last)):
                    stopped = "time_budget"
                    break
                started = time.monotonic()
                logs = _run_step(model, iterator, log)
                deadline.record_step(time.monotonic() - started)
                run.step_in_epoch += 1
                steps_since_checkpoint += 1
                run.last_logs = logs
                _finite_or_raise(logs, run)
                progress_bar.update(run.step_in_epoch, logs)
                # The first step (tracing, compiling) is the slowest: say it is done.
                run.beat(force=not first_step_done)
                first_step_done = True
                for hook in step_hooks:
                    hook(run, run.global_step, logs)
            if stopped != "completed":
                break
            _end_epoch(run, writer, fixed_inputs, epoch_started, epoch_hooks)
            steps_since_checkpoint = 0
    except KeyboardInterrupt:
        if steps_since_checkpoint:
            path = run.save_checkpoint()
            log(f"interrupted: checkpoint {path} written; continue with --resume")
        else:
            log(f"interrupted: last checkpoint {run.last_checkpoint}; continue with --resume")
        raise
    finally:
        writer.close()

    if stopped == "time_budget":
        if steps_since_checkpoint:
            run.save_checkpoint()
        log(
            f"time budget: stopped at epoch {run.epoch + 1}, step {run.step_in_epoch} with "
            f"{format_duration(max(deadline.left(), 0))} left; checkpoint {run.last_checkpoint}"
        )
    elif run.epoch < config.epochs:
        stopped = "time_budget"
        from painter.train.schedules import learning_rate_at

        rate = learning_rate_at(next(iter(model.optimizers.values())))
        log(
            f"time budget: ended at the planned epoch {run.epoch} of {config.epochs} with "
            f"{format_duration(max(deadline.left(), 0))} left (learning rate {rate:.3g}); "
            f"checkpoint {run.last_checkpoint}"
        )
    run.beat(force=True)
    return RunResult(
        run_dir=run_dir,
        config=config,
        model=model,
        history=run.history,
        epochs_completed=run.epoch,
        global_step=run.global_step,
        stopped=stopped,
        last_checkpoint=run.last_checkpoint,
        resumed_from=resume_from.path if resume_from else None,
        planned_epochs=run.planned_epochs if budget is not None else None,
    )


def _end_epoch(run: TrainingRun, writer, fixed_inputs, epoch_started: float, hooks) -> None:
    """Row, samples, TensorBoard, hooks, the budget's plan, history files, checkpoint: in
    that order, so the checkpoint's manifest carries what the hooks added and the plan."""
    from painter.train.schedules import learning_rate_at
    from painter.viz import save_image_grid

    run.beat(force=True)
    ended = time.monotonic()
    epoch = run.epoch + 1
    logs = {name: float(np.asarray(m.result())) for name, m in zip(
        [m.name for m in run.model.metrics], run.model.metrics)}
    first_optimizer = next(iter(run.model.optimizers.values()))
    row = {
        "epoch": epoch,
        "step": run.global_step,
        "seconds": round(ended - epoch_started, 3),
        "lr": learning_rate_at(first_optimizer, max(run.global_step - 1, 0)),  # its last step's
        **logs,
    }
    images = _sample_images(run.config, run.model, fixed_inputs)
    cols = len(fixed_inputs) if run.config.family == "cyclegan" else None
    save_image_grid(images, run.run_dir / SAMPLES_DIR / f"epoch_{epoch:03d}.png", cols, force=True)
    for hook in hooks:
        hook(run, epoch, row)
    writer.scalars({k: v for k, v in row.items() if k not in ("epoch", "step")}, step=epoch)
    writer.images("samples", images, step=epoch)
    writer.flush()
    run.epoch, run.step_in_epoch = epoch, 0
    run.deadline.record_epoch_end(time.monotonic() - ended)
    if run.deadline.budget is not None:
        run.fit_to_budget()
        row["planned_epochs"] = run.planned_epochs
    run.history.append(row)
    write_history(run.history, run.run_dir / HISTORY_CSV)
    plot_history(run.history, run.run_dir / LOSS_PNG)
    run.last_logs = {k: v for k, v in row.items() if isinstance(v, (int, float))}
    run.save_checkpoint()
    run.beat(force=True)
    values = "  ".join(f"{k}={v:.4g}" for k, v in logs.items())
    run.log(f"epoch {epoch}/{run.planned_epochs}: {values}  ({format_duration(row['seconds'])})")


# ---- after training ------------------------------------------------------------------


list_checkpoints = ckpt.list_checkpoints
