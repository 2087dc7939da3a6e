"""An exponential moving average (EMA) of the generator's weights, for every family.

With `ema_decay = d` (0 < d < 1) in a config, the run keeps beside the family's
submission generator a second network of the same architecture, its "EMA generator",
whose every weight follows

    average ← d · average + (1 − d) · weight

after each training step, starting from the generator's weights where training starts.
The average of the last ~1/(1 − d) steps' weights smooths the oscillation of a GAN's
generator, which is why GAN papers and the competition's best write-ups sample from it.

How it is kept, and why:

- **In the compiled step.** Both step drivers (`painter.train.step`) end the step with
  the update, inside the same `tf.function` or jitted JAX step (and XLA program), after
  every optimizer has applied its gradients (`GeneratorEMA.update` on TensorFlow; on JAX
  the average's weights are part of the step's threaded state, `StepState`). A Keras
  callback would run it eagerly between steps, a few hundred small device calls per step.
- **Per replica, identical everywhere.** Under a `tf.distribute` strategy the update is
  one merge call in which each replica's copy of the average is updated from the same
  replica's copy of the weights (`strategy.extended.update`): the optimizers have summed
  the gradients over replicas, so those weights are the same on every replica and so is
  the average, with no cross-device traffic.
- **A network, not an optimizer's slots.** Keras' own `Optimizer(use_ema=True)` keeps the
  averages in private optimizer variables (their names and order are Keras' business)
  and `fit()` ends by copying them over the training weights
  (`finalize_variable_values`), which would hand a resumed run the average instead of the
  weights it trained. A network of its own is saved as `GEN.ema.weights.h5` beside
  `GEN.weights.h5` in every checkpoint (`painter.train.checkpoints`), loads into
  `Family.build_generator(config)` as the raw generator does, and can be scored, drawn
  and generated with directly. Non-float variables (seed states) are copied, not averaged.

Families need nothing but the config field: `Family.ema_decay(config)` reads
`ema_decay` when the config has it (0: off), and `painter.train.run` attaches the average.
"""

from __future__ import annotations

EMA_SUFFIX = ".ema"  # GEN.ema.weights.h5 beside GEN.weights.h5


class GeneratorEMA:
    """The moving average of `generator`'s weights, held in `network`.

    Args:
        generator: the trained generator.
        network: a network of the same architecture (`Family.build_generator`), built in
            the same strategy scope; its weights become the average.
        decay: d in (0, 1).

    Raises:
        ValueError: the networks' weights differ in number or shape, or `decay` is out of
            range.
    """

    def __init__(self, generator, network, decay: float):
        if not 0.0 < float(decay) < 1.0:
            raise ValueError(f"`decay` must be in (0, 1). Received: decay={decay!r}")
        ours, theirs = network.weights, generator.weights
        if len(ours) != len(theirs) or any(
            tuple(a.shape) != tuple(w.shape) for a, w in zip(ours, theirs)
        ):
            raise ValueError(
                f"The EMA network {network.name!r} does not match the generator "
                f"{generator.name!r}: {len(ours)} weights against {len(theirs)}, or shapes differ."
            )
        self.generator = generator
        self.network = network
        self.decay = float(decay)

    def reset(self) -> None:
        """Sets the average to the generator's current weights (a run's start)."""
        from keras import ops

        for average, weight in zip(self.network.weights, self.generator.weights):
            # A copy: on JAX, assigning the weight itself would share its buffer, which a
            # jitted step that donates its state cannot take twice.
            average.assign(ops.copy(weight))

    def update(self) -> None:
        """One step of the average; call it inside the train step (replica context) after
        the generator's optimizer has applied its gradients, or outside any step."""
        import tensorflow as tf

        pairs = [(_tf_variable(a), _tf_variable(w))
                 for a, w in zip(self.network.weights, self.generator.weights)]
        rate = 1.0 - self.decay

        def step(average, weight):
            if average.dtype.is_floating:
                # a − (1 − d)(a − w): the same average as d·a + (1 − d)·w, rounded less
                # when the two are close.
                return average.assign_sub(rate * (average - tf.cast(weight, average.dtype)))
            return average.assign(weight)

        def merged(strategy, pairs):
            for average, weight in pairs:
                strategy.extended.update(average, step, args=(weight,), group=False)

        tf.__internal__.distribute.interim.maybe_merge_call(
            merged, tf.distribute.get_strategy(), pairs
        )


def _tf_variable(variable):
    """The TensorFlow variable under a Keras one (a MirroredVariable under a strategy)."""
    import keras

    return variable.value if isinstance(variable, keras.Variable) else variable


def with_generator_ema(model, generator, network, decay: float) -> GeneratorEMA:
    """Makes `model` keep the EMA of `generator` in `network`.

    Each train step ends with the average's update inside the compiled step, after every
    optimizer of the step (`painter.train.step`); `model.generator_ema` is the
    `GeneratorEMA`. The average starts as `network`'s weights: call `reset()` once the
    generator holds its start.

    Args:
        model: a family's training model (a `keras.Model` with its own `train_step`).
        generator: its submission generator (`Family.generator(model)`).
        network: the EMA network (`Family.build_generator`), built in the model's
            strategy scope.
        decay: d in (0, 1).
    """
    ema = GeneratorEMA(generator, network, decay)
    # An instance attribute holding a plain object: not tracked as one of the model's
    # layers or weights (checkpoints save the average's network on its own).
    model.generator_ema = ema
    return ema


def generator_ema(model) -> GeneratorEMA | None:
    """The model's `GeneratorEMA`, or None when its run keeps none."""
    return getattr(model, "generator_ema", None)
