"""The image pool of Shrivastava et al. 2017, as Zhu et al. use it for CycleGAN.

A discriminator trained only on the generator's latest fakes chases them and forgets the
older ones, and the pair oscillates. The pool keeps `pool_size` (50) past fakes per
discriminator; each new fake, once the pool is full, is swapped with probability ½ for a
random stored one (which the discriminator sees instead), else passed through.

The pool is state in Keras variables, updated inside the compiled `train_step`, with
static shapes and `keras.ops` only (XLA-compilable). Under `tf.distribute` the variables
are SyncOnRead, so every replica keeps its own pool of the fakes it made: a pool per
replica, as with per-device data, not one shared pool. The pool is not part of
checkpoints (Zhu et al. do not save it either): a resumed run refills it in
`pool_size / batch` steps.
"""

from __future__ import annotations

import keras
from keras import ops

from painter.train.step import ReplicaSeedGenerator


@keras.saving.register_keras_serializable(package="painter")
class ImagePool(keras.layers.Layer):
    """A pool of past fakes, called on each new batch of fakes in a train step.

    A batch is handled as Zhu et al.'s loop would handle its images one by one: while the
    pool is filling, the fakes are stored and returned as they are; once full, each fake
    is, with probability ½, returned as it is, else stored in place of a random slot
    whose old image is returned. Slots are drawn without replacement within a batch (so
    two images of a batch never swap with the same slot), which needs batch <= pool_size
    per replica; larger batches reuse slots.

    Args:
        pool_size: images kept; 0 disables the pool (the call returns its input).
            Defaults to 50.
        seed: seed of the pool's random draws. Defaults to None (random).
        **kwargs: `keras.layers.Layer` arguments (`name`, …).

    Call arguments:
        fakes: (batch, height, width, channels) generated images.
        training: the pool acts only when True; otherwise it returns `fakes`.
    """

    def __init__(self, pool_size: int = 50, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(pool_size, int) or pool_size < 0:
            raise ValueError(f"`pool_size` must be an int >= 0. Received: pool_size={pool_size!r}")
        self.pool_size = pool_size
        self.seed = seed
        self.seed_generator = ReplicaSeedGenerator(seed, name=f"{self.name}_seed")
        self.images = None
        self.count = None

    def build(self, input_shape):
        if self.pool_size and any(d is None for d in input_shape[1:]):
            raise ValueError(
                "`ImagePool` needs static image dimensions. "
                f"Received: input_shape={input_shape}"
            )
        if self.pool_size:
            # SyncOnRead: one pool per replica (module docstring).
            self.images = keras.Variable(
                initializer="zeros",
                shape=(self.pool_size, *input_shape[1:]),
                dtype="float32",
                trainable=False,
                synchronization="on_read",
                aggregation="only_first_replica",
                name="images",
            )
            self.count = keras.Variable(
                initializer="zeros",
                shape=(),
                dtype="int32",
                trainable=False,
                synchronization="on_read",
                aggregation="only_first_replica",
                name="count",
            )
        self.built = True

    def call(self, fakes, training=None):
        if not self.pool_size or not training:
            return fakes
        size = self.pool_size
        batch = fakes.shape[0] if fakes.shape[0] is not None else ops.shape(fakes)[0]
        new = ops.cast(ops.stop_gradient(fakes), "float32")
        pool = ops.convert_to_tensor(self.images)
        count = ops.convert_to_tensor(self.count)

        # 1. Fakes that arrive while the pool is filling go to the next free slots.
        positions = count + ops.arange(batch, dtype="int32")
        filling = positions < size
        fill = ops.one_hot(ops.where(filling, positions, 0), size) * ops.expand_dims(
            ops.cast(filling, "float32"), 1
        )  # (batch, size): image i → slot
        pool = self._write(pool, fill, new)

        # 2. Once full, each fake swaps with probability ½ with a distinct random slot.
        coin = keras.random.uniform((batch,), seed=self.seed_generator) < 0.5
        swap = ops.logical_and(ops.logical_not(filling), coin)
        permutation = ops.argsort(keras.random.uniform((size,), seed=self.seed_generator))
        slots = ops.take(permutation, ops.arange(batch, dtype="int32") % size)
        stored = ops.take(pool, slots, axis=0)
        swap_mask = ops.reshape(swap, (-1, 1, 1, 1))
        returned = ops.where(swap_mask, stored, new)
        replace = ops.one_hot(slots, size) * ops.expand_dims(ops.cast(swap, "float32"), 1)
        pool = self._write(pool, replace, new)

        self.images.assign(pool)
        self.count.assign(ops.minimum(count + ops.cast(batch, "int32"), size))
        # Fakes passed through keep their gradient path; stored ones have none.
        return ops.where(swap_mask, ops.cast(returned, fakes.dtype), fakes)

    @staticmethod
    def _write(pool, assignment, images):
        """`pool` with `images[i]` written to every slot `assignment[i]` marks (one-hot rows)."""
        written = ops.sum(assignment, axis=0)  # 1 where a slot is overwritten
        kept = pool * ops.reshape(1.0 - written, (-1, 1, 1, 1))
        return kept + ops.einsum("bn,bhwc->nhwc", assignment, images)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "seed": self.seed}
