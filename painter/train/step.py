"""What a train step is made of, on either Keras backend (`painter.train.trainer` runs it).

A family's `compute_losses(data)` returns `StepLosses`: the per-example losses of its
networks, each reduced over the GLOBAL batch (`global_mean`) and scaled for float16 by its
optimizer, and the values of its metrics. Random draws come from `ReplicaSeedGenerator`s.
TensorFlow is imported only on the TensorFlow backend, for its replica context.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
from keras import ops

from painter.backend import on_jax


def replica_count() -> int:
    """Replicas in sync in the current `tf.distribute` replica context; 1 outside any
    strategy and on JAX (whose data-parallel step is one program over the global batch)."""
    if on_jax():
        return 1
    import tensorflow as tf

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
    """A `SeedGenerator` whose draws differ between `tf.distribute` replicas.

    Under `tf.distribute` a model's seed state is mirrored, so a plain `SeedGenerator`
    gives every replica the same random numbers: the same latents (every replica would
    make the same fakes) and the same augmentations. This one offsets the seed by the
    replica's index; with one replica, and on JAX (one program draws for the whole global
    batch), it draws exactly what `SeedGenerator(seed)` draws.
    """

    REPLICA_STRIDE = 1_000_003  # a prime, so replica streams never meet another's seed

    def next(self, ordered=True):
        seed = super().next(ordered=ordered)
        if on_jax():
            return seed
        import tensorflow as tf

        context = tf.distribute.get_replica_context()
        if context is None:
            return seed
        replica = tf.cast(context.replica_id_in_sync_group, seed.dtype)
        return seed + tf.stack([replica * self.REPLICA_STRIDE, tf.zeros_like(replica)])


def clip_to_norm(gradients, clipnorm: float, scale=1.0) -> list:
    """Each gradient clipped to `clipnorm` (per tensor, as Keras' `clipnorm`), with a loss
    scale's factor `scale` taken out before the norm and put back after."""
    clipped = []
    for gradient in gradients:
        unscaled = ops.cast(gradient, "float32") / scale
        norm = ops.sqrt(ops.sum(ops.square(unscaled)))
        factor = clipnorm / ops.maximum(norm, clipnorm)
        clipped.append(ops.cast(unscaled * factor * scale, gradient.dtype))
    return clipped


def loss_scale(optimizer):
    """The dynamic loss scale of a loss-scaling optimizer (float32), else 1.0."""
    scale = getattr(optimizer, "dynamic_scale", None)
    return ops.cast(scale, "float32") if scale is not None else 1.0


@dataclasses.dataclass
class StepLosses:
    """What a family's `compute_losses` returns for one step.

    Attributes:
        losses: {key: scalar loss}, each already `global_mean`-reduced and scaled by its
            optimizer (`scale_loss`). A key names the network that descends it, or a key
            of `shared`.
        metrics: {tracker name: per-example values (or a scalar)} for the step's metrics.
        shared: {key: network names}: one loss whose single backward pass gives the
            gradients of several networks (their own losses differ from it only by terms
            that do not depend on them).
        clipnorm: clip each gradient tensor to this norm over the global batch; None
            leaves them.
    """

    losses: dict[str, Any]
    metrics: dict[str, Any]
    shared: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    clipnorm: float | None = None

    def targets(self) -> dict[str, tuple[str, ...]]:
        """{loss key: the networks whose gradients come from it}."""
        return {key: tuple(self.shared.get(key, (key,))) for key in self.losses}
