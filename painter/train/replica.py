"""What a train step needs to know about the replica it runs on, under `tf.distribute`.

The only TensorFlow in the train steps is here (and their `tf.GradientTape`, as in the
keras.io GAN examples): the replica count that turns per-example losses into a share of
the global-batch mean, a seed stream per replica, gradient clipping that sees the whole
global batch, and float16 loss scaling that skips a step on every replica at once.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops


def replica_count() -> int:
    """Replicas in sync in the current replica context; 1 outside any strategy."""
    context = tf.distribute.get_replica_context()
    return context.num_replicas_in_sync if context is not None else 1


def global_mean(per_example):
    """This replica's share of the mean over the GLOBAL batch: sum(losses) / global batch.

    Keras' optimizers sum gradients over replicas, so shares that add up to the global
    mean make one step on N replicas equal one step on a single device with the same
    global batch. (A per-replica mean would weight each replica's batch by 1/N twice.)
    """
    per_example = ops.cast(per_example, "float32")
    global_batch = ops.cast(ops.shape(per_example)[0] * replica_count(), "float32")
    return ops.sum(per_example) / global_batch


@keras.saving.register_keras_serializable(package="painter")
class ReplicaSeedGenerator(keras.random.SeedGenerator):
    """A `SeedGenerator` whose draws differ between replicas.

    Under `tf.distribute` a model's seed state is mirrored, so a plain `SeedGenerator`
    gives every replica the same random numbers: the same latents (every replica would
    make the same fakes) and the same augmentations. This one offsets the seed by the
    replica's index; with one replica it draws exactly what `SeedGenerator(seed)` draws.
    """

    REPLICA_STRIDE = 1_000_003  # a prime, so replica streams never meet another's seed

    def next(self, ordered=True):
        seed = super().next(ordered=ordered)
        context = tf.distribute.get_replica_context()
        if context is None:
            return seed
        replica = tf.cast(context.replica_id_in_sync_group, seed.dtype)
        return seed + tf.stack([replica * self.REPLICA_STRIDE, tf.zeros_like(replica)])


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


@keras.saving.register_keras_serializable(package="painter")
class ReplicaLossScaleOptimizer(keras.optimizers.LossScaleOptimizer):
    """A `LossScaleOptimizer` that applies or skips a step on every replica alike.

    Keras 3 (3.13 to 3.15, TensorFlow, no XLA) decides in a merge call whether the
    gradients are finite from the FIRST replica's gradients alone, before they are summed
    across replicas: an overflow on another replica then reaches the weights through the
    sum as inf/NaN (tests/test_mixed_precision.py shows it on two CPU replicas). With XLA
    on GPUs each replica decides for itself, and replicas that disagree would run
    different collectives. Here the verdict is shared: finite only if finite everywhere.
    """

    def check_finite(self, grads):
        return on_every_replica(super().check_finite(grads))


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
    scale = getattr(optimizer, "dynamic_scale", None)
    scale = ops.cast(scale, "float32") if scale is not None else 1.0
    clipped = []
    for gradient in gradients:
        unscaled = ops.cast(gradient, "float32") / scale
        norm = ops.sqrt(ops.sum(ops.square(unscaled)))
        factor = clipnorm / ops.maximum(norm, clipnorm)
        clipped.append(ops.cast(unscaled * factor * scale / replicas, gradient.dtype))
    optimizer.apply_gradients(zip(clipped, variables))


def apply_losses(tape, losses: dict, networks: dict, optimizers: dict,
                 shared: tuple[str, tuple[str, ...]] | None = None) -> None:
    """Each network's gradient of its own loss, applied by its own optimizer (which sums
    the gradients over replicas).

    Args:
        tape: the persistent `tf.GradientTape` that recorded the losses.
        losses: {network name: its (scaled) loss}; a network without one is left as it is
            (e.g. the idle direction of a one-way stage).
        networks: {network name: network}.
        optimizers: {network name: its optimizer}.
        shared: (loss key, network names): one loss whose single backward pass gives the
            gradients of several networks (their own losses differ from it only by terms
            that do not depend on them).
    """
    if shared is not None and shared[0] in losses:
        key, names = shared
        groups = [networks[name].trainable_variables for name in names]
        gradients = iter(tape.gradient(losses[key], [v for group in groups for v in group]))
        for name, group in zip(names, groups):
            optimizers[name].apply_gradients(zip([next(gradients) for _ in group], group))
    for name, network in networks.items():
        if name not in losses:
            continue
        variables = network.trainable_variables
        optimizers[name].apply_gradients(zip(tape.gradient(losses[name], variables), variables))


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
