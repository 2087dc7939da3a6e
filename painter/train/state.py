"""`TrainingRun`: the state of a run in progress, which the training callbacks share.

The callbacks of `painter.train.callbacks` (and a caller's own `RunCallback`s) read and
advance it: the epoch and step, the history rows, the time budget and the epochs it fits,
the last checkpoint. It writes checkpoints (`save_checkpoint`) and fits the learning-rate
schedules to the time budget (`fit_to_budget`, `restore_plan`):

Under a time budget, each epoch's end projects the whole epochs that still fit (measured
step, epoch-end and checkpoint times: `Deadline.epochs_that_fit`), at most `epochs`, and
fits the learning-rate schedule to them: the config's constant:decay proportion over the
planned epochs, the decay ending with the last one, where the run then stops. The plan is
kept in each checkpoint's manifest, so a resumed run goes on with the same schedule (one
that its budget cut short, epochs done but the rate not yet 0, is planned again).
"""

from __future__ import annotations

import time
from pathlib import Path

from painter.train import checkpoints as ckpt
from painter.train.budget import format_duration
from painter.train.strategy import workers_min


def sync_model_state(model) -> None:
    """Puts the values of a model's variables back into them where Keras' JAX `fit` keeps
    them elsewhere; free on TensorFlow.

    On JAX, `fit` threads the weights, optimizer and metric values through its compiled
    steps and empties the variables meanwhile (`_get_jax_state(purge_model_variables=
    True)`), putting them back only before `on_epoch_end` and when it returns. Whatever
    reads variables inside an epoch (the step count, a checkpoint) syncs first.
    """
    sync = getattr(model, "jax_state_sync", None)
    if sync is not None:
        sync()


class TrainingRun:
    """A run in progress, as its callbacks see it.

    Attributes:
        run_dir, config, model, strategy, history, log: as their names say.
        deadline: the run's `Deadline` (`deadline.left()` seconds remain).
        planned_epochs: the epoch the run ends with: `config.epochs`, or fewer where a
            time budget fits fewer (`fit_to_budget`).
        heartbeat: the run's `Heartbeat` once the run directory exists, else None.
        epoch: epochs completed; step_in_epoch: steps done of the next one.
        steps_per_epoch: the epoch's length (the config's, once planned).
        history: the rows of history.csv so far.
        row: the row of the epoch ending now (callbacks add columns to it, e.g. MiFID).
        last_logs: the last step's logs, then the last row's numbers (a checkpoint's
            metrics).
        steps_since_checkpoint: steps not yet in a checkpoint.
        stopped: "completed", or "time_budget" once the budget ends the run.
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
        self.epoch = 0
        self.step_in_epoch = 0
        self.steps_per_epoch = config.steps_per_epoch
        self.row: dict = {}
        self.epoch_complete = False
        self.epoch_end_started = 0.0
        self.epoch_metrics: dict[str, float] = {}
        self.steps_since_checkpoint = 0
        self.epoch_start_step = 0  # the global step the current epoch began at
        self.stopped = "completed"
        self.planned_epochs = config.epochs
        self._plan_logged = False
        self.last_logs: dict[str, float] = {}
        self.last_checkpoint: Path | None = None

    @property
    def global_step(self) -> int:
        sync_model_state(self.model)
        # A model whose stages leave some optimizers idle counts the run's steps itself.
        run_step = getattr(self.model, "run_step", None)
        if run_step is not None:
            return int(run_step())
        first = next(iter(self.model.optimizers.values()))
        return int(first.iterations.numpy())

    def save_checkpoint(self, name: str | None = None, metrics: dict | None = None) -> Path:
        """Writes a checkpoint of the current state: numbered (pruned to the config's
        `keep_checkpoints`) by default, or under a fixed `name` such as "best"."""
        started = time.monotonic()
        sync_model_state(self.model)
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
            self.steps_since_checkpoint = 0
        return path

    def catch_up_with_optimizer(self) -> None:
        """Counts a step the optimizer took but the callbacks did not see: Ctrl-C or
        SIGTERM raises between the compiled step's return and the callbacks, and the
        checkpoint written then must say where the weights really are."""
        done = self.global_step - self.epoch_start_step
        if done > self.step_in_epoch:
            self.steps_since_checkpoint += done - self.step_in_epoch
            self.step_in_epoch = done

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
            and any(s.rate_at(self._optimizer_step(n)) > 0 for n, s in schedules.items())
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
        decay_epochs = getattr(self.config, "decay_epochs", 0)
        if getattr(self.config, "decay", "linear") == "constant":
            decay_epochs = 0
        decay_fraction = min(max(decay_epochs, 0), epochs) / epochs
        steps = self.config.steps_per_epoch
        end_step = step + (self.planned_epochs - self.epoch) * steps - self.step_in_epoch
        for name, schedule in decaying_schedules(self.model.optimizers).items():
            # Each schedule counts its optimizer's steps, fewer than the run's where a
            # staged run left it idle (exact when it trains in every step left).
            own = self._optimizer_step(name)
            schedule.fit_end(end_step - step + own, decay_fraction, own)

    def _optimizer_step(self, name: str) -> int:
        sync_model_state(self.model)
        return int(self.model.optimizers[name].iterations.numpy())

    def fit_to_budget(self) -> None:
        """At an epoch's end under a time budget: plans the epochs that still fit (at most
        the config's; the same on every worker) and fits each decaying learning-rate
        schedule to end at the last of them (`ConstantThenDecay.fit_end`)."""
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
            s.rate_at(self._optimizer_step(n)) <= 0 for n, s in schedules.items()
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
