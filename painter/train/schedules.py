"""Learning-rate schedules and optimizers of the two GAN families."""

from __future__ import annotations

import keras
from keras import ops

from painter.train.replica import ReplicaLossScaleOptimizer


@keras.saving.register_keras_serializable(package="painter")
class ConstantThenLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Zhu et al.'s schedule: constant, then linearly down to 0, counted in optimizer steps.

    Args:
        initial_learning_rate: the rate of the constant part.
        constant_steps: steps at `initial_learning_rate` (≥ 0).
        decay_steps: steps of the linear decay that follows, ending at 0 (≥ 0; 0 keeps the
            rate constant throughout).
    """

    def __init__(self, initial_learning_rate: float, constant_steps: int, decay_steps: int):
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
        self.constant_steps = int(constant_steps)
        self.decay_steps = int(decay_steps)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        if not self.decay_steps:
            return ops.full((), self.initial_learning_rate, "float32")
        decayed = (step - self.constant_steps) / float(self.decay_steps)
        return self.initial_learning_rate * (1.0 - ops.clip(decayed, 0.0, 1.0))

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "constant_steps": self.constant_steps,
            "decay_steps": self.decay_steps,
        }


def cyclegan_schedule(config, steps_per_epoch: int) -> ConstantThenLinearDecay:
    """`learning_rate` for `epochs − decay_epochs` epochs, then down to 0 over `decay_epochs`."""
    decay_epochs = min(max(config.decay_epochs, 0), config.epochs)
    return ConstantThenLinearDecay(
        config.learning_rate,
        constant_steps=(config.epochs - decay_epochs) * steps_per_epoch,
        decay_steps=decay_epochs * steps_per_epoch,
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
