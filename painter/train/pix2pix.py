"""pix2pix training (Isola et al. 2017) as one `keras.Model` with its own `train_step`.

Names follow the paper: the generator G maps an input image x to an output G(x) that
should look like the target y; the conditional discriminator D judges pairs, (x, y) real
and (x, G(x)) fake. G's objective is the adversarial loss plus λ·L1(y, G(x)), λ = 100.

Every loss is computed per example and reduced over the GLOBAL batch (`global_mean`), so
one step on N replicas equals one step on one device with the same global batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras
from keras import ops

from painter.models import losses as gan_losses
from painter.models.pix2pix import conditional_patchgan, unet_generator
from painter.train.step import StepLosses, global_mean
from painter.train.trainer import GANTrainer
from painter.train.schedules import adam, cyclegan_schedule

if TYPE_CHECKING:  # for type hints only: the family module imports this one
    from painter.families.pix2pix import Pix2PixConfig

PIX2PIX_LOSSES = ("bce", "lsgan")
PIX2PIX_METRICS = ("G_loss", "G_adv_loss", "L1_loss", "D_loss")


class Pix2Pix(GANTrainer):
    """A generator and a conditional discriminator trained together on paired images.

    Args:
        generator: input → output images, (b, s, s, 3) in [-1, 1].
        discriminator: (b, s, s, 6) pairs (input and output stacked on channels) → logits.
        l1_weight: λ of the L1 loss between the output and the target. Defaults to 100.0.
        **kwargs: `keras.Model` arguments (`name`).
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, *,
                 l1_weight: float = 100.0, **kwargs):
        kwargs.setdefault("name", "pix2pix")
        super().__init__(**kwargs)
        if l1_weight < 0:
            raise ValueError(f"`l1_weight` must be >= 0. Received: l1_weight={l1_weight}")
        self.generator = generator
        self.discriminator = discriminator
        self.l1_weight = float(l1_weight)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in PIX2PIX_METRICS}
        # The networks come built; without this Keras' fit under a strategy would trace
        # `call` on a training batch to build the wrapper.
        self.built = True

    def call(self, inputs, training=False):
        """Input → output: the generator."""
        return self.generator(inputs, training=training)

    def compile(self, generator_optimizer, discriminator_optimizer, loss: str = "bce",
                **kwargs):
        """Sets the two optimizers and the adversarial loss kind, and builds the optimizers
        (inside the strategy's scope, as `CycleGAN.compile` explains).

        Args:
            generator_optimizer, discriminator_optimizer: one optimizer per network.
            loss: "bce" (default, the paper's) or "lsgan".
            **kwargs: `keras.Model.compile` arguments (`jit_compile`, `run_eagerly`).
        """
        if loss not in PIX2PIX_LOSSES:
            raise ValueError(
                f"Unknown pix2pix GAN loss; known: {', '.join(PIX2PIX_LOSSES)}. "
                f"Received: loss={loss!r}"
            )
        if generator_optimizer is discriminator_optimizer:
            raise ValueError("Each network needs its own optimizer instance; received one shared.")
        super().compile(optimizer=None, **kwargs)
        self.generator_optimizer = generator_optimizer
        self.discriminator_optimizer = discriminator_optimizer
        self.loss_kind = loss
        for optimizer, network in zip(self.optimizers.values(), self.networks.values()):
            optimizer.build(network.trainable_variables)
        self.use_step_state()

    @property
    def networks(self) -> dict[str, keras.Model]:
        """The two trained networks; checkpoints hold exactly these."""
        return {"generator": self.generator, "discriminator": self.discriminator}

    @property
    def optimizers(self) -> dict[str, keras.optimizers.Optimizer]:
        """The optimizer of each network, by the network's name."""
        return {"generator": self.generator_optimizer,
                "discriminator": self.discriminator_optimizer}

    @property
    def metrics(self):
        return list(self.trackers.values())

    def compute_losses(self, data) -> StepLosses:
        inputs, targets = data  # x, y

        # 1. Translate: x → G(x).
        outputs = self.generator(inputs, training=True)

        # 2. D on the real pair (x, y) and the fake pair (x, G(x)), in one call.
        conditions = ops.concatenate([inputs, inputs], axis=0)
        images = ops.concatenate([ops.cast(targets, outputs.dtype), outputs], axis=0)
        pairs = ops.concatenate([ops.cast(conditions, outputs.dtype), images], axis=-1)
        real_logits, fake_logits = ops.split(self.discriminator(pairs, training=True), 2)

        # 3. Per-example losses (float32 whatever the compute dtype).
        adversarial = gan_losses.generator_loss(self.loss_kind, fake_logits)
        l1 = gan_losses.cycle_loss(targets, outputs)  # mean |y − G(x)| per example
        total_G = adversarial + self.l1_weight * l1
        loss_D = gan_losses.discriminator_loss(self.loss_kind, real_logits, fake_logits)

        # 4. Reduce over the GLOBAL batch; scale for mixed float16 (a no-op otherwise).
        scaled = {
            "generator": self.generator_optimizer.scale_loss(global_mean(total_G)),
            "discriminator": self.discriminator_optimizer.scale_loss(global_mean(loss_D)),
        }
        # D's loss reaches G's weights through G(x), and G's through D's; each optimizer
        # takes only its own network's gradient.
        return StepLosses(
            losses=scaled,
            metrics={"G_loss": total_G, "G_adv_loss": adversarial, "L1_loss": l1, "D_loss": loss_D},
        )


def build_pix2pix(config: Pix2PixConfig) -> Pix2Pix:
    """The U-Net generator and conditional PatchGAN of `config` in a `Pix2Pix` (call
    inside the strategy scope)."""
    return Pix2Pix(
        unet_generator(config, name="generator"),
        conditional_patchgan(config, name="discriminator"),
        l1_weight=config.l1_weight,
    )


def compile_pix2pix(model: Pix2Pix, config: Pix2PixConfig, steps_per_epoch: int,
                    jit_compile: bool) -> None:
    """Compiles with two Adams (the paper's 2e-4, β₁ 0.5) on `cyclegan_schedule`: constant
    for `epochs − decay_epochs` epochs, then linearly to 0 (call inside the strategy scope)."""
    optimizers = [
        adam(cyclegan_schedule(config, steps_per_epoch), config.beta_1, config.mixed_precision,
             name=f"{name}_adam")
        for name in ("generator", "discriminator")
    ]
    model.compile(*optimizers, loss=config.loss, jit_compile=jit_compile)
