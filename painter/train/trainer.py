"""A family's training model on either Keras backend: `GANTrainer`, and its JAX step.

A family's model writes its step once, as `compute_losses(data)` (`painter.train.step`);
`GANTrainer.train_step` runs it on the backend Keras runs on:

- TensorFlow: `painter.train.replica.tf_train_step`, under `tf.distribute`;
- JAX: `jax_train_step` here, Keras' stateless pattern. `compute_losses` runs in a
  `keras.StatelessScope` over the values `fit` threads through the step; `jax.vjp` gives
  one forward pass and a backward pass per loss (inside the one jitted step XLA drops the
  gradients no optimizer takes); each optimizer's `stateless_apply` updates its network;
  the non-trainable state the forward pass wrote (image pools, seed generators, spectral
  norm's vectors, batch-norm statistics) and the metrics are threaded on. Data parallelism
  is `keras.distribution.DataParallel`: one program over the global batch, which XLA
  splits over the devices.

Both end a step with the generator's moving average where the run keeps one
(`painter.train.ema`).
"""

from __future__ import annotations

import contextlib

import keras
from keras import ops

from painter.backend import on_jax
from painter.train.step import StepLosses, clip_to_norm, loss_scale


@keras.saving.register_keras_serializable(package="painter")
class ReplicaLossScaleOptimizer(keras.optimizers.LossScaleOptimizer):
    """A `LossScaleOptimizer` that applies or skips a step on every replica alike.

    Keras 3 (3.13 to 3.15, TensorFlow, no XLA) decides in a merge call whether the
    gradients are finite from the FIRST replica's gradients alone, before they are summed
    across replicas: an overflow on another replica then reaches the weights through the
    sum as inf/NaN (tests/test_mixed_precision.py shows it on two CPU replicas). With XLA
    on GPUs each replica decides for itself, and replicas that disagree would run
    different collectives. Here the verdict is shared: finite only if finite everywhere.
    On JAX the step is one program over the global batch, so the verdict already is.
    """

    def check_finite(self, grads):
        finite = super().check_finite(grads)
        if on_jax():
            return finite
        from painter.train.replica import on_every_replica

        return on_every_replica(finite)


def schedule_variables(optimizer) -> list:
    """The Keras variables of the optimizer's learning-rate schedule, if it keeps any
    (inside a loss-scaling wrapper too): a schedule the time budget moves during `fit`."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    rate = getattr(inner, "_learning_rate", None)
    if not isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
        return []
    return [v for v in vars(rate).values() if isinstance(v, keras.Variable)]


class StepState:
    """What the JAX `fit` threads through a step as its "optimizer variables": every
    optimizer's variables and its schedule's, in the model's network order, then the
    generator average's weights (`painter.train.ema`).

    Keras' JAX trainer keeps one optimizer's variables in the state it passes to
    `train_step`; a GAN has one optimizer per network. The schedules' variables are state
    too, so a schedule the time budget refits mid-run reaches the compiled step without
    compiling it again (a jitted step holds the variables it is not handed as constants).
    Set as `model.optimizer` on JAX only (`GANTrainer.use_step_state`); on TensorFlow a
    family model has no `optimizer`.
    """

    built = True

    def __init__(self, model):
        self._model = model

    def groups(self) -> list[tuple[str, list]]:
        """[(network name, its optimizer's variables + its schedule's)…, ("ema", …)]."""
        groups = [(name, list(optimizer.variables) + schedule_variables(optimizer))
                  for name, optimizer in self._model.optimizers.items()]
        ema = getattr(self._model, "generator_ema", None)
        groups.append(("ema", list(ema.network.weights) if ema is not None else []))
        return groups

    @property
    def variables(self) -> list:
        return [v for _, group in self.groups() for v in group]

    def finalize_variable_values(self, variables):
        pass


class GANTrainer(keras.Model):
    """A family's training model: its networks and optimizers by name, its metric trackers,
    and one `compute_losses`; `train_step` runs it on the backend Keras runs on.

    Subclasses set `trackers` ({name: keras.metrics.Mean}), define `networks`,
    `optimizers` (same keys, same order) and `compute_losses`, and end their `compile`
    (after `super().compile(optimizer=None, …)` and building the optimizers) with
    `use_step_state()`.
    """

    def compute_losses(self, data) -> StepLosses:
        raise NotImplementedError

    def logged_metrics(self) -> tuple[str, ...]:
        """The trackers a step reports (all of them; a staged model reports its stage's)."""
        return tuple(self.trackers)

    def use_step_state(self) -> None:
        """On JAX, makes `fit` thread every optimizer's (and the average's) variables
        (`StepState`); call at the end of `compile`. Nothing on TensorFlow."""
        if on_jax():
            self.optimizer = StepState(self)

    def train_step(self, *args):
        if not on_jax():
            from painter.train.replica import tf_train_step

            return tf_train_step(self, *args)
        return jax_train_step(self, *args)


@contextlib.contextmanager
def _values_bound(variables, values):
    """Gives `variables` these (traced) values while the block runs.

    An optimizer's `stateless_apply` maps only its own variables in its `StatelessScope`;
    a variable outside that mapping (the schedule's) is read from its stored value, which
    is here the value threaded through the step instead of a constant.
    """
    saved = [variable._value for variable in variables]
    try:
        for variable, value in zip(variables, values):
            variable._value = value
        yield
    finally:
        for variable, value in zip(variables, saved):
            variable._value = value


def _mapped_values(scope, variables, values) -> list:
    """The values `variables` hold at the end of a `StatelessScope` (`values` where the
    scope did not assign them)."""
    new = []
    for variable, value in zip(variables, values):
        current = scope.get_current_value(variable)
        new.append(value if current is None else current)
    return new


def jax_train_step(model: GANTrainer, state, data):
    """One step of `model` on JAX, statelessly: (logs, new state) from (state, data)."""
    import jax

    trainable_values, non_trainable_values, step_values, metrics_values = state
    trainable = model.trainable_variables
    non_trainable = model.non_trainable_variables
    step_variables = model.optimizer.variables
    position = {id(v): i for i, v in enumerate(trainable)}
    traced = {}

    def forward(trainable_values):
        mapping = (list(zip(trainable, trainable_values))
                   + list(zip(non_trainable, non_trainable_values))
                   + list(zip(step_variables, step_values)))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            step = model.compute_losses(data)
        traced["step"] = step
        return step.losses, (step.metrics,
                             _mapped_values(scope, non_trainable, non_trainable_values),
                             _mapped_values(scope, trainable, trainable_values))

    losses, backward, (metric_values, non_trainable_values, assigned) = jax.vjp(
        forward, trainable_values, has_aux=True
    )
    step = traced["step"]
    # A weight the forward pass assigned (spectral norm's W / σ(W)) is what its optimizer
    # updates, as on TensorFlow, where the assignment happens to the variable itself.
    trainable_values = list(assigned)

    # Each group's slice of the step state, in the order `StepState` lists them.
    offsets, start = {}, 0
    for name, group in model.optimizer.groups():
        offsets[name] = (start, start + len(group))
        start += len(group)
    step_values = list(step_values)
    for key, names in step.targets().items():
        cotangent = {k: ops.ones_like(v) if k == key else ops.zeros_like(v)
                     for k, v in losses.items()}
        (gradients,) = backward(cotangent)
        for name in names:
            optimizer = model.optimizers[name]
            indices = [position[id(v)] for v in model.networks[name].trainable_variables]
            grads = [gradients[i] for i in indices]
            if step.clipnorm:
                mapping = list(zip(step_variables, step_values))
                with keras.StatelessScope(state_mapping=mapping):
                    scale = loss_scale(optimizer)
                grads = clip_to_norm(grads, step.clipnorm, scale)
            first, end = offsets[name]
            own = len(optimizer.variables)
            schedule = schedule_variables(optimizer)
            with _values_bound(schedule, step_values[first + own:end]):
                new_weights, new_optimizer = optimizer.stateless_apply(
                    step_values[first:first + own], grads,
                    [trainable_values[i] for i in indices]
                )
            for i, value in zip(indices, new_weights):
                trainable_values[i] = value
            step_values[first:first + own] = new_optimizer

    ema = getattr(model, "generator_ema", None)
    if ema is not None:
        first, end = offsets["ema"]
        step_values[first:end] = _ema_values(ema, step_values[first:end], trainable_values,
                                             non_trainable_values, trainable, non_trainable)

    mapping = list(zip(model.metrics_variables, metrics_values))
    with keras.StatelessScope(state_mapping=mapping) as scope:
        for name, value in metric_values.items():
            model.trackers[name].update_state(value)
        logs = {name: model.trackers[name].result() for name in model.logged_metrics()}
    metrics_values = _mapped_values(scope, model.metrics_variables, metrics_values)
    return logs, (trainable_values, non_trainable_values, step_values, metrics_values)


def _ema_values(ema, averages, trainable_values, non_trainable_values, trainable,
                non_trainable) -> list:
    """The moving average's weights after one step: a − (1 − d)(a − w) for each float
    weight w of the generator after its update (as `GeneratorEMA.update`), w itself for
    the others."""
    value_of = {id(v): x for v, x in zip(trainable, trainable_values)}
    value_of.update({id(v): x for v, x in zip(non_trainable, non_trainable_values)})
    rate = 1.0 - ema.decay
    new = []
    for average, weight in zip(averages, ema.generator.weights):
        value = value_of[id(weight)]
        if "float" in str(average.dtype):
            new.append(average - rate * (average - ops.cast(value, average.dtype)))
        else:
            new.append(ops.cast(value, average.dtype))
    return new
