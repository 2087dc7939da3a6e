"""Latent-noise GAN training: a generator of Monets from noise against a spectral-norm
PatchGAN, as one `keras.Model` with its own `train_step`.

Binary cross-entropy from logits; Adam with a faster generator (1e-4) than discriminator
(1e-5) and gradient clipping by norm. Losses are per example and reduced over the GLOBAL
batch; clipping sees the global gradient (`apply_clipped`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras
from keras import ops

from painter.models import losses as gan_losses
from painter.models.diffaugment import diff_augment, parse_policy
from painter.models.noise_gan import noise_discriminator, noise_generator
from painter.train.step import ReplicaSeedGenerator, StepLosses, global_mean
from painter.train.trainer import GANTrainer
from painter.train.schedules import adam

if TYPE_CHECKING:  # for type hints only: the family module imports this one
    from painter.families.noise_gan import NoiseGANConfig

NOISE_GAN_METRICS = ("G_loss", "D_loss", "D_real", "D_fake")


class NoiseGAN(GANTrainer):
    """A generator of images from latent vectors and its discriminator.

    Args:
        generator: latents (latent_dim,) → images.
        discriminator: images → patch logits.
        diffaugment: DiffAugment policy applied to what the discriminator sees, real and
            fake alike; "" disables it. Defaults to "color,translation,cutout".
        seed: seed of the latents and the augmentations. Defaults to 0.
        **kwargs: `keras.Model` arguments (`name`).
    """

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model,
        *,
        diffaugment: str = "color,translation,cutout",
        seed: int = 0,
        **kwargs,
    ):
        kwargs.setdefault("name", "noise_gan")
        super().__init__(**kwargs)
        parse_policy(diffaugment)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = int(generator.input_shape[-1])
        self.diffaugment = diffaugment
        self.latent_seed = ReplicaSeedGenerator(seed, name="latent_seed")
        self.augment_seed = ReplicaSeedGenerator(seed + 1, name="diffaugment_seed")
        self.trackers = {name: keras.metrics.Mean(name=name) for name in NOISE_GAN_METRICS}
        # The networks come built; without this Keras' fit under a strategy would trace
        # `call` on a training batch to build the wrapper.
        self.built = True

    def call(self, latents, training=False):
        return self.generator(latents, training=training)

    def compile(
        self, generator_optimizer, discriminator_optimizer, clipnorm: float | None = 1.0, **kwargs
    ):
        """Sets the two optimizers and builds them (call inside the strategy's scope).

        Args:
            generator_optimizer: optimizer of the generator.
            discriminator_optimizer: optimizer of the discriminator (another instance).
            clipnorm: clip each gradient tensor to this norm, over the global batch
                (`apply_clipped`); None or 0 disables. Defaults to 1.0. Give the
                optimizers no `clipnorm` of their own.
            **kwargs: `keras.Model.compile` arguments (`jit_compile`, `run_eagerly`).
        """
        if generator_optimizer is discriminator_optimizer:
            raise ValueError("The generator and the discriminator need their own optimizers.")
        super().compile(optimizer=None, **kwargs)
        self.generator_optimizer = generator_optimizer
        self.discriminator_optimizer = discriminator_optimizer
        self.clipnorm = float(clipnorm) if clipnorm else None
        generator_optimizer.build(self.generator.trainable_variables)
        discriminator_optimizer.build(self.discriminator.trainable_variables)
        self.use_step_state()

    @property
    def networks(self) -> dict[str, keras.Model]:
        return {"generator": self.generator, "discriminator": self.discriminator}

    @property
    def optimizers(self) -> dict[str, keras.optimizers.Optimizer]:
        return {
            "generator": self.generator_optimizer,
            "discriminator": self.discriminator_optimizer,
        }

    @property
    def metrics(self):
        return list(self.trackers.values())

    def sample_latents(self, count: int, seed: int):
        """`count` latents drawn from N(0, 1) with `seed`: the same seed, the same images."""
        return keras.random.normal((count, self.latent_dim), seed=seed)

    def draw_latents(self, batch):
        """A step's latents: N(0, 1) from the model's seed stream (per replica)."""
        return keras.random.normal((batch, self.latent_dim), seed=self.latent_seed)

    def compute_losses(self, data) -> StepLosses:
        if isinstance(data, (tuple, list)):  # (monets,): how Python generators yield them
            (data,) = data
        real = ops.cast(data, "float32")
        batch = ops.shape(real)[0]

        # 1. Fakes from this replica's own latents.
        latents = self.draw_latents(batch)
        fake = ops.cast(self.generator(latents, training=True), "float32")

        # 2. One discriminator pass on DiffAugment(real ‖ fake), training=True so
        # batch norm uses batch statistics and spectral norm's power iteration runs.
        images = ops.concatenate([real, fake], axis=0)
        if self.diffaugment:
            images = diff_augment(images, self.diffaugment, self.augment_seed)
        real_logits, fake_logits = ops.split(
            self.discriminator(images, training=True), 2, axis=0
        )

        # 3. Per-example BCE from logits, reduced over the GLOBAL batch.
        loss_G = gan_losses.generator_loss("bce", fake_logits)
        loss_D = gan_losses.discriminator_loss("bce", real_logits, fake_logits)
        scaled_G = self.generator_optimizer.scale_loss(global_mean(loss_G))
        scaled_D = self.discriminator_optimizer.scale_loss(global_mean(loss_D))

        # 4. Metrics: losses, and D's mean probability of "real" on real and fake images.
        def probability(logits):
            logits = ops.cast(logits, "float32")
            return ops.mean(ops.sigmoid(logits), axis=tuple(range(1, len(logits.shape))))

        # Gradients clipped over the global batch, each applied by its own optimizer.
        return StepLosses(
            losses={"generator": scaled_G, "discriminator": scaled_D},
            metrics={"G_loss": loss_G, "D_loss": loss_D, "D_real": probability(real_logits),
                     "D_fake": probability(fake_logits)},
            clipnorm=self.clipnorm,
        )


def synchronize_batch_norm(model: keras.Model) -> int:
    """Makes every BatchNormalization layer of `model` use global-batch statistics.

    Under `tf.distribute` each replica would otherwise normalise by its own slice of the
    batch, so N replicas would not equal one device, and the moving statistics (used when
    sampling) would drift apart between replicas and workers. Set here rather than in the
    builders because synchronized batch norm exists only on the TensorFlow backend and the
    builders stay backend-neutral. Returns the number of layers changed.
    """
    if keras.backend.backend() != "tensorflow":
        # JAX's data-parallel step is one program over the global batch: its batch norm
        # already normalises by the global batch's statistics.
        return 0
    changed = 0
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = True
            changed += 1
    return changed


def build_noise_gan(config: NoiseGANConfig) -> NoiseGAN:
    """The generator and discriminator of `config` in a `NoiseGAN` (inside the strategy
    scope), their batch norms synchronized over replicas."""
    generator = noise_generator(config, name="noise_generator")
    discriminator = noise_discriminator(config, name="noise_discriminator")
    synchronize_batch_norm(generator)
    synchronize_batch_norm(discriminator)
    return NoiseGAN(generator, discriminator, diffaugment=config.diffaugment, seed=config.seed)


def compile_noise_gan(model: NoiseGAN, config: NoiseGANConfig, jit_compile: bool) -> None:
    """Compiles with Adam G (`learning_rate_g`) and D (`learning_rate_d`), global clipnorm."""
    model.compile(
        adam(config.learning_rate_g, config.beta_1, config.mixed_precision, name="generator_adam"),
        adam(
            config.learning_rate_d, config.beta_1, config.mixed_precision, name="discriminator_adam"
        ),
        clipnorm=config.clipnorm,
        jit_compile=jit_compile,
    )
