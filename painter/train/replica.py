"""The TensorFlow train step of a `GANTrainer` (`painter.train.step`), under `tf.distribute`.

The only TensorFlow in the train steps is here: the step under a `tf.GradientTape` (as in
the keras.io GAN examples), gradient clipping that sees the whole global batch, a verdict
on finite gradients shared by every replica, and logs shaped for multi-worker reduction.
"""

from __future__ import annotations

import tensorflow as tf
from keras import ops

from painter.train.step import StepLosses, clip_to_norm, loss_scale


def on_every_replica(flag):
    """A boolean scalar that is True only where `flag` is True on every replica in sync
    (every worker's included); `flag` itself with one replica.

    `tf.distribute` all-reduces only sums and means, so the replicas where `flag` is False
    are counted.
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return flag
    failing = context.all_reduce(tf.distribute.ReduceOp.SUM, 1.0 - tf.cast(flag, "float32"))
    return tf.equal(failing, 0.0)


def apply_clipped(optimizer, gradients, variables, clipnorm: float | None) -> None:
    """Applies gradients clipped to `clipnorm` (per tensor, as Keras' `clipnorm`).

    Keras clips each replica's gradient before its optimizer sums them over replicas, so
    with N replicas it clips N partial gradients instead of the global one. Here the
    gradients are summed first, clipped, and handed on divided by N (the optimizer's own
    sum then restores them), so clipping sees the gradient of the whole global batch.
    A loss-scaling optimizer's scale is taken out before clipping and put back after.
    """
    if not clipnorm:
        optimizer.apply_gradients(zip(gradients, variables))
        return
    context = tf.distribute.get_replica_context()
    replicas = context.num_replicas_in_sync if context is not None else 1
    if replicas > 1:
        gradients = context.all_reduce(tf.distribute.ReduceOp.SUM, list(gradients))
    clipped = [gradient / replicas
               for gradient in clip_to_norm(gradients, clipnorm, loss_scale(optimizer))]
    optimizer.apply_gradients(zip(clipped, variables))


def apply_losses(tape, step: StepLosses, networks: dict, optimizers: dict) -> None:
    """Each network's gradient of its loss (`StepLosses.targets`), applied by its own
    optimizer (which sums the gradients over replicas), clipped over the global batch
    where the step says so.

    Args:
        tape: the persistent `tf.GradientTape` that recorded the losses.
        step: the step's losses (`GANTrainer.compute_losses`); a network without one is
            left as it is (e.g. the idle direction of a one-way stage).
        networks: {network name: network}.
        optimizers: {network name: its optimizer}.
    """
    for key, names in step.targets().items():
        groups = [networks[name].trainable_variables for name in names]
        gradients = iter(tape.gradient(step.losses[key], [v for group in groups for v in group]))
        for name, group in zip(names, groups):
            apply_clipped(optimizers[name], [next(gradients) for _ in group], group,
                          step.clipnorm)


def tf_train_step(model, data) -> dict:
    """One step of a `GANTrainer` on TensorFlow (in a replica context under a strategy):
    its losses under a tape, each network's update, the generator's moving average, the
    metrics."""
    with tf.GradientTape(persistent=True) as tape:
        step = model.compute_losses(data)
    apply_losses(tape, step, model.networks, model.optimizers)
    del tape
    ema = getattr(model, "generator_ema", None)
    if ema is not None:
        ema.update()
    for name, value in step.metrics.items():
        model.trackers[name].update_state(value)
    return step_logs({name: model.trackers[name].result() for name in model.logged_metrics()})


def step_logs(values: dict) -> dict:
    """A train step's returned metrics, shaped so Keras can reduce them over replicas.

    Keras 3.15 reduces per-replica logs under MultiWorkerMirroredStrategy with
    `strategy.reduce("MEAN", v, axis=0)`, which fails on scalars ("Invalid reduction
    dimension 0 for input with 0 dimensions"); there each value goes out as shape (1,).
    Elsewhere they stay scalars.
    """
    strategy = tf.distribute.get_strategy()
    multi_worker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and (
        strategy.extended._in_multi_worker_mode()
    )
    if not multi_worker:
        return values
    return {name: ops.reshape(value, (1,)) for name, value in values.items()}
