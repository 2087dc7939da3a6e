"""GAN losses as pure `keras.ops` functions of logits and images.

Every function returns PER-EXAMPLE losses, shape (batch,), in float32: the mean over all
other axes (the patch map of a PatchGAN, the pixels of an image). The trainer sums them
and divides by the GLOBAL batch size, which is what makes a step on N replicas equal a
step on one replica with the same global batch.

Kinds (`LOSSES`):
- "lsgan" (Mao et al., Zhu et al.'s default): G: (D(fake) − 1)²; D: ½·[(D(real) − 1)² +
  D(fake)²].
- "bce": binary cross-entropy from logits. G: −log σ(D(fake)); D: ½·[−log σ(D(real)) −
  log(1 − σ(D(fake)))].
- "hinge" (Miyato et al., SAGAN): G: −D(fake); D: relu(1 − D(real)) + relu(1 + D(fake)).

The ½ on the D losses of "lsgan" and "bce" is Zhu et al.'s: it slows D against G. The hinge
loss is written without it, as its papers do.
"""

from __future__ import annotations

from keras import ops

LOSSES = ("lsgan", "bce", "hinge")


def _per_example_mean(x):
    """Mean over every axis but the first, in float32."""
    x = ops.cast(x, "float32")
    if len(x.shape) == 1:
        return x
    return ops.mean(x, axis=tuple(range(1, len(x.shape))))


def _check_kind(kind: str) -> None:
    if kind not in LOSSES:
        raise ValueError(f"Unknown GAN loss; known: {', '.join(LOSSES)}. Received: kind={kind!r}")


def generator_loss(kind: str, fake_logits):
    """The generator's adversarial loss per example.

    Args:
        kind: "lsgan", "bce" or "hinge".
        fake_logits: the discriminator's logits on generated images, (batch, …).

    Returns:
        (batch,) float32 losses.
    """
    _check_kind(kind)
    fake_logits = ops.cast(fake_logits, "float32")
    if kind == "lsgan":
        return _per_example_mean(ops.square(fake_logits - 1.0))
    if kind == "bce":
        # −log σ(x) = softplus(−x), without overflow for large |x|.
        return _per_example_mean(ops.softplus(-fake_logits))
    return _per_example_mean(-fake_logits)


def discriminator_loss(kind: str, real_logits, fake_logits):
    """The discriminator's loss per example, real and fake terms together.

    Args:
        kind: "lsgan", "bce" or "hinge".
        real_logits: logits on real images, (batch, …).
        fake_logits: logits on generated images, the same shape.

    Returns:
        (batch,) float32 losses.
    """
    _check_kind(kind)
    real_logits = ops.cast(real_logits, "float32")
    fake_logits = ops.cast(fake_logits, "float32")
    if kind == "lsgan":
        real = _per_example_mean(ops.square(real_logits - 1.0))
        fake = _per_example_mean(ops.square(fake_logits))
        return 0.5 * (real + fake)
    if kind == "bce":
        # −log(1 − σ(x)) = softplus(x).
        real = _per_example_mean(ops.softplus(-real_logits))
        fake = _per_example_mean(ops.softplus(fake_logits))
        return 0.5 * (real + fake)
    real = _per_example_mean(ops.relu(1.0 - real_logits))
    fake = _per_example_mean(ops.relu(1.0 + fake_logits))
    return real + fake


def cycle_loss(real, cycled):
    """Mean absolute error between images and their round trips, per example.

    The trainer multiplies it by λ (`cycle_weight`, 10 in Zhu et al.).
    """
    return _per_example_mean(ops.abs(ops.cast(real, "float32") - ops.cast(cycled, "float32")))


def identity_loss(real, same):
    """Mean absolute error between images and the generator's output on its own domain.

    The trainer multiplies it by 0.5·λ (`identity_weight` × `cycle_weight`).
    """
    return _per_example_mean(ops.abs(ops.cast(real, "float32") - ops.cast(same, "float32")))
