"""`train()`: one training run from a config to a run directory (`painter.rundir`).

`train` reads as its six steps:

    plan      check the options, the data, the run directory and the checkpoint to
              resume; hold photos out; pick the strategy; make the dataset (`RunPlan`)
    build     the family's model, compiled in the strategy's scope (with the moving
              average of its generator when the config has `ema_decay`); its weights
              from the checkpoint (a resume), from another run's checkpoint (a restart:
              weights only) or its start from the data (a new run)
    open      write the run directory's config.toml, data.json and photo split
    restore   the run's state: epoch, step, history, the time budget's plan; or, for a
              new run, epoch 0 (a MiFID tracker scores the untrained generator)
    loop      `model.fit`, with the per-step and per-epoch work as Keras callbacks
              (`painter.train.callbacks`): sample grids, history, MiFID tracking and the
              best checkpoint, the NaN stop, the time budget, checkpoints
    finish    a checkpoint for a stop between epochs, the closing line, `RunResult`

Everything that can fail on bad input does so in `plan` and `build`, before the run
directory is written. The loop can stop between any two steps: for the time budget, on
Ctrl-C or SIGTERM (both write a checkpoint first), or on a NaN/Inf loss (which writes
none, keeping the last good one).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from painter.config import Config, config_to_toml
from painter.errors import UsageError
from painter.families import Family, family_of
from painter.io import atomic_path
from painter.rundir import (CONFIG_TOML, DATA_JSON, HISTORY_CSV, LOGS_DIR, RUN_ENTRIES,
                            read_restart, restart_toml, run_toml)
from painter.train import checkpoints as ckpt
from painter.train.budget import Deadline, format_duration, parse_duration
from painter.train.ema import generator_ema, with_generator_ema
from painter.train.heartbeat import Heartbeat
from painter.train.history import read_history, write_history
from painter.train.state import TrainingRun
from painter.train.strategy import (describe_strategy, fit_scope, jit_allowed, pick_strategy,
                                    tf_config_worker)

KAGGLE_ROOT = Path("/kaggle/input/gan-getting-started")


@dataclasses.dataclass
class RunResult:
    """What `train` returns.

    Attributes:
        run_dir: the run directory written (for a non-chief worker of a multi-worker run,
            its own `RUN_DIR.workerN`).
        config: the resolved config (with the epochs and steps per epoch used).
        model: the trained model of the config's family (`CycleGAN`, `NoiseGAN`, …).
        history: the rows of history.csv.
        epochs_completed: epochs finished, resumed ones included.
        global_step: optimizer steps since the run began.
        stopped: "completed", or "time_budget" when the budget ended it before `epochs`
            (at the planned epoch, or mid-epoch when even that did not fit).
        last_checkpoint: the newest checkpoint folder (None if none was written).
        resumed_from: the checkpoint a `--resume` started from, else None.
        restarted_from: the other run's checkpoint a restart took its weights from, else
            None.
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
    restarted_from: Path | None = None


@dataclasses.dataclass
class RunPlan:
    """What `train` settles before it builds anything (`_plan`)."""

    config: Config
    family: Family
    root: Path
    run_dir: Path
    resume: bool
    force: bool
    deadline: Deadline
    tracking: object  # painter.train.tracking.Tracking, or None
    strategy: object
    resume_from: ckpt.CheckpointInfo | None
    restart_from: ckpt.CheckpointInfo | None
    dataset: object
    steps: int
    jit: bool
    log: Callable[[str], None]
    backend: str = "tensorflow"

    @property
    def tracker(self):
        return self.tracking.tracker if self.tracking else None

    @property
    def training_photos(self):
        """The photo files a photo split leaves to training (None without a split)."""
        return self.tracking.training_photos if self.tracking else None


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


def build_training_model(config, steps_per_epoch: int, strategy, jit_compile: bool):
    """The family's training model, built and compiled inside `strategy.scope()` under
    the config's dtype policy; with `ema_decay`, keeping the moving average of its
    generator (`painter.train.ema`; `reset()` it once the generator holds its start)."""
    family = family_of(config)
    with strategy.scope(), ckpt.dtype_policy(config.mixed_precision):
        model = family.build(config)
        family.compile(model, config, steps_per_epoch, jit_compile)
        decay = family.ema_decay(config)
        if decay:
            with_generator_ema(model, family.generator(model), family.build_generator(config),
                               decay)
    return model


def parse_restart(value: str) -> tuple[Path, str]:
    """`RUN_DIR[:best|last]` → (run directory, checkpoint name); the name defaults to
    "best" when the run kept one, else "last"."""
    run_dir, sep, which = str(value).rpartition(":")
    if not sep or which not in ("best", "last") or not run_dir:
        run_dir, which = str(value), ""
    if not which:
        which = "best" if (Path(run_dir) / ckpt.CHECKPOINTS_DIR / "best").is_dir() else "last"
    return Path(run_dir), which


def _restart_checkpoint(restart_from, run_dir: Path, config) -> ckpt.CheckpointInfo:
    """The other run's checkpoint a restart starts from, checked against the config's
    family and architecture (CheckpointError) and against overwriting itself."""
    parent, which = parse_restart(restart_from)
    if not parent.is_dir():
        raise UsageError(f"--restart-from {parent}: no such run directory")
    if parent.resolve() == run_dir.resolve():
        raise UsageError(f"--restart-from {parent}: a restart writes a new run directory, not "
                         "its parent's (give another --out)")
    found = ckpt.find_checkpoint(parent, which)
    ckpt.check_compatible(found, config)
    return found


# ---- the six steps -------------------------------------------------------------------


def _plan(config, *, data, out, epochs, steps_per_epoch, time_budget, resume, force,
          strategy, log, restart_from=None, backend=None) -> RunPlan:
    """Checks everything a run needs before anything is built or written."""
    import keras  # noqa: F401 - loaded here, Keras settles its backend

    from painter.backend import check_keras_backend

    backend = check_keras_backend(backend)
    _check_positive("epochs", epochs)
    _check_positive("steps_per_epoch", steps_per_epoch)
    family = family_of(config)
    deadline = Deadline(parse_duration(time_budget) if time_budget is not None else None)
    root = Path(data) if data is not None else default_data_root()
    if not root.is_dir():
        raise UsageError(f"--data {root}: no such directory")
    # The run directory is checked before a strategy starts (a multi-worker one waits
    # for every worker), so a refused run costs nothing.
    run_dir = worker_run_dir(Path(out), tf_config_worker(strategy))
    if restart_from is not None and resume:
        raise UsageError("--restart-from starts a new run; --resume continues one: not both")
    _prepare_run_dir(run_dir, resume, force)
    restart = (_restart_checkpoint(restart_from, run_dir, config)
               if restart_from is not None else None)
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
    dataset, pass_steps = family.dataset(
        config, root, config.seed + start_epoch,
        photos=tracking.training_photos if tracking else None,
    )
    steps = steps_per_epoch or config.steps_per_epoch or pass_steps
    config = dataclasses.replace(config, epochs=epochs or config.epochs, steps_per_epoch=steps)
    # On JAX the step is always compiled: run op by op it would be slow beyond use.
    jit = bool((config.jit_compile or backend == "jax") and jit_allowed(chosen))
    if backend == "jax" and not config.jit_compile:
        log("jit_compile = false: ignored on JAX, whose steps are always compiled")
    if config.jit_compile and not jit:
        log(f"jit_compile: off under {describe_strategy(chosen)} (XLA cannot span its devices)")
    return RunPlan(config=config, family=family, root=root, run_dir=run_dir, resume=resume,
                   force=force, deadline=deadline, tracking=tracking, strategy=chosen,
                   resume_from=resume_from, restart_from=restart, dataset=dataset, steps=steps,
                   jit=jit, log=log, backend=backend)


def _build(plan: RunPlan):
    """The compiled model, with its checkpoint's weights or its start from the data.
    Returns (model, config, sample inputs): the config with what the start chose (for
    config.toml), the fixed inputs of every epoch's sample grid."""
    config = plan.config
    model = build_training_model(config, plan.steps, plan.strategy, plan.jit)
    if plan.resume_from:
        ckpt.restore_checkpoint(plan.resume_from, model, config)
    else:
        if plan.restart_from:
            # The parent's weights carry its start from the data; the optimizers, their
            # schedules and the step count begin afresh.
            found = plan.restart_from
            loaded = ckpt.load_weights(found, model, config)
            mifid = found.metrics.get("mifid")
            plan.log(
                f"restarting from {found.path} (epoch {found.epoch}, global step "
                f"{found.global_step}" + (f", MiFID {mifid:.2f}" if mifid is not None else "")
                + f"{', its moving-average generator' if loaded == 'ema' else ''}): weights "
                "only, fresh optimizers and learning-rate schedule"
            )
        else:
            config = plan.family.start_from_data(
                model, config, plan.root, tracker=plan.tracker, photos=plan.training_photos,
                log=plan.log,
            )
        ema = generator_ema(model)
        if ema is not None:
            ema.reset()  # the average starts from the generator's start
    return model, config, plan.family.sample_inputs(config, plan.root, model)


def restart_record(found: ckpt.CheckpointInfo) -> dict:
    """The [restart] table of a restarted run's config.toml (`painter.rundir.restart_toml`)."""
    record = {
        "parent": str(found.path.parent.parent.resolve()),
        "checkpoint": found.name,
        "epoch": found.epoch,
        "global_step": found.global_step,
        "generator_weights": found.generator_weights,
    }
    if "mifid" in found.metrics:
        record["mifid"] = float(found.metrics["mifid"])
    return record


def _open_run_dir(plan: RunPlan, config) -> None:
    """Writes the run directory's config.toml, data.json and photo split (after --force
    cleared what an earlier run wrote)."""
    run_dir = plan.run_dir
    if plan.force and not plan.resume:
        _clear_run_dir(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt.clear_partial_writes(run_dir)
    # A restart records its parent; a resumed restart keeps that record.
    parent = (restart_record(plan.restart_from) if plan.restart_from
              else read_restart(run_dir) if plan.resume else None)
    trained_on = {"backend": plan.backend, "devices": plan.strategy.num_replicas_in_sync}
    with atomic_path(run_dir / CONFIG_TOML, force=True) as temp:
        temp.write_text(config_to_toml(config) + run_toml(trained_on)
                        + (restart_toml(parent) if parent else ""))
    with atomic_path(run_dir / DATA_JSON, force=True) as temp:
        temp.write_text(json.dumps({"data_root": str(plan.root.resolve())}) + "\n")
    if plan.tracking:
        plan.tracking.write(run_dir)


def _restore(plan: RunPlan, model, config) -> TrainingRun:
    """The run's state: where a resumed run stands (epoch, step, history, the budget's
    plan), or a new run's epoch 0."""
    run = TrainingRun(plan.run_dir, config, model, plan.strategy, plan.log, plan.deadline,
                      Heartbeat(plan.run_dir))
    found, log = plan.resume_from, plan.log
    if found is None:
        if plan.tracker is not None:
            # The untrained generator's score: the bar every tracked epoch must beat.
            # A restart's start is the parent's checkpoint: always the bar to beat.
            row = plan.tracker.start(run, always=plan.restart_from is not None)
            if row is not None:
                run.history.append(row)
                write_history(run.history, plan.run_dir / HISTORY_CSV)
        return run
    run.epoch, run.step_in_epoch = found.epoch, found.step_in_epoch
    if run.step_in_epoch >= plan.steps:  # stopped after an epoch's last step
        run.epoch, run.step_in_epoch = run.epoch + 1, 0
    run.epoch_start_step = run.global_step - run.step_in_epoch
    rows = read_history(plan.run_dir / HISTORY_CSV)
    run.history = [r for r in rows if r.get("epoch", 0) <= run.epoch]
    run.last_checkpoint = found.path
    log(
        f"resumed from {found.path} (epoch {run.epoch}, step {run.step_in_epoch} "
        f"of the next, global step {run.global_step})"
    )
    if found.plan and plan.deadline.budget is not None:
        if run.restore_plan(found.plan):
            log(f"time budget: the last run's plan of {found.plan['planned_epochs']} "
                "epochs ended before its learning rate reached 0; planned again after "
                "this run's first epoch")
        else:
            log(f"time budget: going on with the plan of {run.planned_epochs} epochs "
                "until this run's first epoch ends")
    elif found.plan:
        log(f"no --time-budget: the config's schedule for {config.epochs} epochs replaces "
            f"the one fitted to {found.plan.get('planned_epochs')} epochs")
    return run


def _xla_compile_errors() -> tuple:
    """The errors of a TensorFlow step that XLA cannot compile on this device; none on JAX,
    where every step is compiled (there is no step without XLA to fall back to)."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return ()
    import tensorflow as tf

    return (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError,
            tf.errors.InternalError)


def _fit(model, dataset, run: TrainingRun, callbacks, *, epochs: int, steps: int) -> None:
    """`model.fit` from the run's epoch for `epochs` epochs of `steps` steps, inside the
    strategy's fit scope (`fit_scope`: JAX's distribution); on TensorFlow, if XLA cannot
    compile the step on this device, once more without XLA."""
    from painter.train.callbacks import StepInterrupts

    arguments = dict(initial_epoch=run.epoch, epochs=epochs, steps_per_epoch=steps,
                     callbacks=callbacks, shuffle=False, verbose=0)
    step_before = run.global_step
    try:
        with fit_scope(run.strategy):
            model.fit(dataset, **arguments)
    except _xla_compile_errors() as error:
        if not model.jit_compile or run.global_step != step_before:
            raise
        from painter.errors import first_line

        run.log(f"XLA could not compile the train step here ({first_line(error)[:160]}); "
                "going on without it")
        model.jit_compile = False
        model.make_train_function(force=True)
        with fit_scope(run.strategy):
            model.fit(dataset, **arguments)
    finally:
        for callback in callbacks:  # a step that raised left its signals held back
            if isinstance(callback, StepInterrupts):
                callback.release(deliver=False)


def _loop(plan: RunPlan, model, run: TrainingRun, sample_inputs: np.ndarray, callbacks,
          progress: bool) -> None:
    """Trains until the planned epochs are done or a callback stops the run."""
    from painter.train.callbacks import run_callbacks
    from painter.train.strategy import replicas_agree
    from painter.train.tensorboard import EventWriter

    config, steps, deadline = run.config, plan.steps, plan.deadline
    writer = EventWriter(plan.run_dir / LOGS_DIR)
    if plan.tracker is not None:
        callbacks = (plan.tracker, *callbacks)
    ordered = run_callbacks(run, plan.family, sample_inputs, writer, callbacks=callbacks,
                            progress=progress)
    plan.log(
        f"training {config.family} for {config.epochs} epochs of {steps} steps, global batch "
        f"{config.batch_size}, on {describe_strategy(plan.strategy)}{', XLA' if plan.jit else ''}"
        f" → {plan.run_dir}"
        + (f", time budget {format_duration(deadline.budget)}" if deadline.budget else "")
    )
    run.beat(force=True)
    try:
        if run.epoch >= run.planned_epochs:
            pass
        elif deadline.budget is not None and replicas_agree(
            plan.strategy, deadline.should_stop(run.step_in_epoch == steps - 1)
        ):
            run.stopped = "time_budget"
        elif run.step_in_epoch:
            # A resume inside an epoch: its remaining steps, then whole epochs from a new
            # shuffle.
            _fit(model, plan.dataset, run, ordered, epochs=run.epoch + 1,
                 steps=steps - run.step_in_epoch)
            if run.stopped == "completed" and run.epoch < run.planned_epochs:
                dataset, _ = plan.family.dataset(config, plan.root, config.seed + run.epoch,
                                                 photos=plan.training_photos)
                _fit(model, dataset, run, ordered, epochs=config.epochs, steps=steps)
        else:
            _fit(model, plan.dataset, run, ordered, epochs=config.epochs, steps=steps)
    except KeyboardInterrupt:
        run.catch_up_with_optimizer()
        if run.steps_since_checkpoint:
            path = run.save_checkpoint()
            plan.log(f"interrupted: checkpoint {path} written; continue with --resume")
        else:
            plan.log(f"interrupted: last checkpoint {run.last_checkpoint}; continue with --resume")
        raise
    finally:
        writer.close()


def _finish(plan: RunPlan, run: TrainingRun) -> RunResult:
    """A checkpoint for a budget stop inside an epoch; the closing line; the result."""
    config, deadline, log = run.config, plan.deadline, plan.log
    if run.stopped == "time_budget":
        if run.steps_since_checkpoint:
            run.save_checkpoint()
        log(
            f"time budget: stopped at epoch {run.epoch + 1}, step {run.step_in_epoch} with "
            f"{format_duration(max(deadline.left(), 0))} left; checkpoint {run.last_checkpoint}"
        )
    elif run.epoch < config.epochs:
        run.stopped = "time_budget"
        from painter.train.schedules import learning_rate_at

        rate = learning_rate_at(next(iter(run.model.optimizers.values())))
        log(
            f"time budget: ended at the planned epoch {run.epoch} of {config.epochs} with "
            f"{format_duration(max(deadline.left(), 0))} left (learning rate {rate:.3g}); "
            f"checkpoint {run.last_checkpoint}"
        )
    run.beat(force=True)
    return RunResult(
        run_dir=plan.run_dir,
        config=config,
        model=run.model,
        history=run.history,
        epochs_completed=run.epoch,
        global_step=run.global_step,
        stopped=run.stopped,
        last_checkpoint=run.last_checkpoint,
        resumed_from=plan.resume_from.path if plan.resume_from else None,
        restarted_from=plan.restart_from.path if plan.restart_from else None,
        planned_epochs=run.planned_epochs if deadline.budget is not None else None,
    )


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
    restart_from: str | os.PathLike | None = None,
    log: Callable[[str], None] | None = print,
    callbacks: Sequence = (),
    progress: bool = True,
    backend: str | None = None,
) -> RunResult:
    """Trains the config's model family and writes a run directory (module docstring).

    Args:
        config: a config of any registered family (`load_config`).
        data: a Kaggle-layout root (`monet_tfrec/` or `monet_jpg/`, and for families that
            translate photos `photo_tfrec/` or `photo_jpg/`). Default None:
            /kaggle/input/gan-getting-started when it exists, else the embedded sample
            (`painter.data.SAMPLE_ROOT`).
        out: the run directory.
        epochs: overrides `config.epochs` (the total, resumed epochs included).
        steps_per_epoch: overrides `config.steps_per_epoch`; when both are 0/None, one
            pass over the data (the photos, or the Monets for the noise GAN).
        time_budget: stop in time to write a final checkpoint before this much wall time
            ("4h30m", "90m", "3600s", "1.5h", or seconds) from the call. Default None.
        resume: continue the run in `out` from its last checkpoint (weights, optimizer
            state, epoch and step; the config must build the same networks).
        force: replace an existing run in `out` (only what a run writes is removed).
        strategy: "auto" (default), "tpu", "mirrored", "multiworker" or "cpu"
            (`pick_strategy`; on JAX `painter.train.distribution.pick_distribution`).
        restart_from: "RUN_DIR[:best|last]": start a NEW run in `out` from that run's
            checkpoint (default its best, else its last): its network weights (the
            generator's moving average where that checkpoint generates with it), not its
            optimizers, step or schedule, which start afresh from the config (e.g. a
            lower `learning_rate`, `decay = "cosine"`). The config must build the same
            networks. config.toml records the parent in a [restart] table.
        log: where progress lines go. Default print; None for silence.
        callbacks: Keras callbacks run after each step and epoch with the run's own
            (`painter.train.callbacks`; a `RunCallback` also sees the run's state).
        progress: show a progress bar when stdout is a terminal. Default True.
        backend: "tensorflow" or "jax": the Keras backend the run must train on. Keras
            fixes its backend at import (`KERAS_BACKEND`), so this only checks it: a
            process whose Keras runs on another is a UsageError (`painter train
            --backend` chooses it before Keras loads: `painter.backend.select_backend`).
            Default None: whichever Keras runs on. config.toml's [run] table records it.

    Returns:
        A `RunResult`.

    Raises:
        UsageError: bad options, an existing `out` without `resume`/`force`, a resume with
            nothing to resume, a missing data root, Keras on another backend than
            `backend`.
        ConfigError / DataError: from the config or the data.
        CheckpointError: the checkpoint to resume or restart from is of another model or
            shape.
        TrainingError: a NaN/Inf loss (the last good checkpoint is kept).
        KeyboardInterrupt: after writing a checkpoint to resume from.
    """
    log = log or (lambda message: None)
    plan = _plan(config, data=data, out=out, epochs=epochs, steps_per_epoch=steps_per_epoch,
                 time_budget=time_budget, resume=resume, force=force, strategy=strategy, log=log,
                 restart_from=restart_from, backend=backend)
    model, config, sample_inputs = _build(plan)
    _open_run_dir(plan, config)
    run = _restore(plan, model, config)
    _loop(plan, model, run, sample_inputs, callbacks, progress)
    return _finish(plan, run)
