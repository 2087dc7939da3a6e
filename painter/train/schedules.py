"""Learning-rate schedules and optimizers of the GAN families."""

from __future__ import annotations

import math

import keras
from keras import ops

from painter.families.base import SCHEDULE_DECAYS
from painter.train.trainer import ReplicaLossScaleOptimizer


@keras.saving.register_keras_serializable(package="painter")
class ConstantThenDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Constant, then down to 0, counted in optimizer steps: linearly (Zhu et al.'s
    schedule) or along a half cosine (Loshchilov & Hutter's, without restarts).

    The constant rate and where the decay starts and ends are variables that a compiled
    train step reads, so `fit_end` can move the decay (to end where a time budget does)
    without tracing the step again.

    Args:
        initial_learning_rate: the rate of the constant part.
        constant_steps: steps at `initial_learning_rate` (≥ 0).
        decay_steps: steps of the decay that follows, ending at 0 (≥ 0; 0 keeps the
            rate constant throughout).
        shape: "linear" (default) or "cosine": the rate is r·f over the decay, where f
            goes from 1 to 0 as t / decay_steps goes from 0 to 1 as 1 − t/T (linear) or
            (1 + cos(π t/T)) / 2 (cosine).
    """

    def __init__(self, initial_learning_rate: float, constant_steps: float, decay_steps: float,
                 shape: str = "linear"):
        if shape not in ("linear", "cosine"):
            raise ValueError(f"`shape` must be 'linear' or 'cosine'. Received: shape={shape!r}")
        if initial_learning_rate < 0:
            raise ValueError(
                "`initial_learning_rate` must be >= 0. "
                f"Received: initial_learning_rate={initial_learning_rate}"
            )
        if constant_steps < 0 or decay_steps < 0:
            raise ValueError(
                "`constant_steps` and `decay_steps` must be >= 0. "
                f"Received: constant_steps={constant_steps}, decay_steps={decay_steps}"
            )
        self.initial_learning_rate = float(initial_learning_rate)
        self.shape = shape
        self._rate = keras.Variable(
            self.initial_learning_rate, dtype="float32", trainable=False, name="constant_rate"
        )
        # The decay's start and end (not its length), so the rate is exactly 0 from the end
        # on whatever float32 rounds.
        self._start = keras.Variable(
            float(constant_steps), dtype="float32", trainable=False, name="decay_start_step"
        )
        self._end = keras.Variable(
            float(constant_steps) + float(decay_steps), dtype="float32", trainable=False,
            name="decay_end_step",
        )

    @property
    def learning_rate(self) -> float:
        """The rate of the constant part (the initial rate until `fit_end` lowers it)."""
        return float(ops.convert_to_numpy(self._rate))

    @property
    def constant_steps(self) -> float:
        return float(ops.convert_to_numpy(self._start))

    @property
    def decay_steps(self) -> float:
        return float(ops.convert_to_numpy(self._end)) - self.constant_steps

    def __call__(self, step):
        step = ops.cast(step, "float32")
        start = ops.cast(self._start, "float32")
        end = ops.cast(self._end, "float32")
        left = ops.clip((end - step) / ops.maximum(end - start, 1e-6), 0.0, 1.0)
        if self.shape == "cosine":
            left = 0.5 * (1.0 - ops.cos(math.pi * left))
        return ops.cast(self._rate, "float32") * ops.where(end > start, left, 1.0)

    def rate_at(self, step: int) -> float:
        """The rate at `step`, as a float."""
        return float(ops.convert_to_numpy(self(step)))

    def lengths(self) -> dict[str, float]:
        """The schedule as it now is: `learning_rate` (of the constant part),
        `constant_steps`, `decay_steps`; `restore` takes it back."""
        return {"learning_rate": self.learning_rate, "constant_steps": self.constant_steps,
                "decay_steps": self.decay_steps}

    def restore(self, learning_rate: float, constant_steps: float, decay_steps: float) -> None:
        """Sets the schedule to what `lengths` returned (e.g. from a checkpoint)."""
        self._rate.assign(float(learning_rate))
        self._start.assign(float(constant_steps))
        self._end.assign(float(constant_steps) + float(decay_steps))

    def fit_end(self, end_step: float, decay_fraction: float, step: int) -> None:
        """Moves the decay so that the rate reaches 0 at `end_step`, with no jump at `step`
        (the next step to run).

        While the rate is still constant and the new decay would start at or after
        `step`, the decay spans `decay_fraction` of the steps up to `end_step`, as the
        config's constant:decay proportion asks. Otherwise (the rate already decays, or
        the new decay would have begun) the rate goes down linearly from its value at
        `step` to 0 at `end_step`. Nothing changes once the rate is 0 or `end_step` is not
        after `step`.
        """
        now = self.rate_at(step)
        if now <= 0 or end_step <= step:
            return
        start = end_step * (1.0 - min(max(decay_fraction, 0.0), 1.0))
        if step > self.constant_steps or start < step:
            self._rate.assign(now)
            start = step
        self._start.assign(float(start))
        self._end.assign(float(end_step))

    def get_config(self):
        # The schedule as it now is: after `fit_end`, its constant rate may be lower.
        return {
            "initial_learning_rate": self.learning_rate,
            "constant_steps": self.constant_steps,
            "decay_steps": self.decay_steps,
            "shape": self.shape,
        }


# The name of the linear schedule alone, which code outside painter may import.
ConstantThenLinearDecay = ConstantThenDecay


def decaying_schedules(optimizers: dict) -> dict[str, ConstantThenDecay]:
    """The `ConstantThenDecay` of each optimizer that runs on one, by the optimizer's
    key (inside a loss-scaling wrapper too)."""
    found = {}
    for name, optimizer in optimizers.items():
        inner = getattr(optimizer, "inner_optimizer", optimizer)
        rate = getattr(inner, "_learning_rate", None)
        if isinstance(rate, ConstantThenDecay):
            found[name] = rate
    return found


def cyclegan_schedule(config, steps_per_epoch: int) -> ConstantThenDecay:
    """`learning_rate` for `epochs − decay_epochs` epochs, then down to 0 over `decay_epochs`
    as the config's `decay` says: "linear" (default, also for configs without the field),
    "cosine", or "constant" (no decay)."""
    decay = getattr(config, "decay", "linear")
    if decay not in SCHEDULE_DECAYS:
        raise ValueError(f"`decay` must be one of {SCHEDULE_DECAYS}. Received: decay={decay!r}")
    decay_epochs = min(max(config.decay_epochs, 0), config.epochs) if decay != "constant" else 0
    return ConstantThenDecay(
        config.learning_rate,
        constant_steps=(config.epochs - decay_epochs) * steps_per_epoch,
        decay_steps=decay_epochs * steps_per_epoch,
        shape="cosine" if decay == "cosine" else "linear",
    )


class MultipliedAdam(keras.optimizers.Adam):
    """Adam with the learning rate of some variables multiplied by a factor of their own.

    Scaling their gradients instead would change nothing: Adam's step does not depend on
    the gradient's scale.

    Args:
        multipliers: {variable path: factor}; variables not named keep the rate.
        *args, **kwargs: `keras.optimizers.Adam`'s.
    """

    def __init__(self, *args, multipliers: dict[str, float] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.multipliers = {str(k): float(v) for k, v in (multipliers or {}).items()}

    def build(self, variables):
        super().build(variables)
        self._factors = [self.multipliers.get(v.path, 1.0) for v in variables]

    def update_step(self, gradient, variable, learning_rate):
        factor = self._factors[self._get_variable_index(variable)]
        if factor != 1.0:
            learning_rate = ops.cast(learning_rate, variable.dtype) * factor
        super().update_step(gradient, variable, learning_rate)


def adam(learning_rate, beta_1: float, mixed_precision: str = "", name: str | None = None,
         multipliers: dict[str, float] | None = None):
    """Adam, wrapped in a `LossScaleOptimizer` under "mixed_float16" (float16 gradients
    underflow without loss scaling; bfloat16 has float32's range and needs none); with
    `multipliers` ({variable path: factor}), a `MultipliedAdam`."""
    if multipliers:
        optimizer = MultipliedAdam(learning_rate=learning_rate, beta_1=beta_1, name=name,
                                   multipliers=multipliers)
    else:
        optimizer = keras.optimizers.Adam(learning_rate=learning_rate, beta_1=beta_1, name=name)
    if mixed_precision == "mixed_float16":
        # Skips an overflowing step on every replica alike (`ReplicaLossScaleOptimizer`).
        optimizer = ReplicaLossScaleOptimizer(
            optimizer, name=f"{name or optimizer.name}_loss_scale"
        )
    return optimizer


def learning_rate_at(optimizer, step: int | None = None) -> float:
    """The learning rate of the optimizer at `step` (default: its next step), as a float."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    rate = inner._learning_rate  # the schedule itself, or a variable
    if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
        rate = rate(inner.iterations if step is None else step)
    return float(ops.convert_to_numpy(rate))
