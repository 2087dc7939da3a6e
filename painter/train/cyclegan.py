"""CycleGAN training (Zhu et al. 2017) as one `keras.Model` with its own `train_step`.

Names follow the paper, with X = photos and Y = Monets:

    gen_G   G: X → Y, photo → Monet (the generator the submission uses)
    gen_F   F: Y → X, Monet → photo
    disc_X  D_X: tells real photos from F's fakes
    disc_Y  D_Y: tells real Monets from G's fakes

Every loss is computed per example and reduced over the GLOBAL batch (`global_mean`), so
one step on N replicas equals one step on one device with the same global batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras
import tensorflow as tf
from keras import ops

from painter.models import losses as gan_losses
from painter.models.diffaugment import diff_augment, parse_policy
from painter.models.discriminators import patchgan_discriminator
from painter.models.generators import build_generator
from painter.train.pool import ImagePool
from painter.train.replica import ReplicaSeedGenerator, global_mean, step_logs
from painter.train.schedules import adam, cyclegan_schedule

if TYPE_CHECKING:  # for type hints only: the family module imports this one
    from painter.families.cyclegan import CycleGANConfig

CYCLEGAN_METRICS = ("G_loss", "F_loss", "D_X_loss", "D_Y_loss", "cycle_loss", "identity_loss")


class CycleGAN(keras.Model):
    """Two generators and two discriminators trained together.

    Args:
        gen_G: photo → Monet generator.
        gen_F: Monet → photo generator.
        disc_X: discriminator of photos.
        disc_Y: discriminator of Monets.
        cycle_weight: λ of the cycle-consistency L1 loss. Defaults to 10.0.
        identity_weight: identity loss weight as a fraction of λ. Defaults to 0.5.
        perceptual_weight: weight of the VGG19 perceptual loss added to the cycle loss
            (between each real image and its round trip); 0 disables it. Defaults to 0.0.
        perceptual_features: the feature model the perceptual loss compares
            (`painter.models.perceptual.vgg19_features()`); required when
            `perceptual_weight` > 0.
        diffaugment: DiffAugment policy applied before both discriminators; "" disables it.
            Defaults to "color,translation,cutout".
        pool_size: past fakes kept per discriminator (`ImagePool`); 0 disables. Defaults
            to 50.
        seed: seed of the augmentations and the pools. Defaults to 0.
        **kwargs: `keras.Model` arguments (`name`).
    """

    def __init__(
        self,
        gen_G: keras.Model,
        gen_F: keras.Model,
        disc_X: keras.Model,
        disc_Y: keras.Model,
        *,
        cycle_weight: float = 10.0,
        identity_weight: float = 0.5,
        perceptual_weight: float = 0.0,
        perceptual_features: keras.Model | None = None,
        diffaugment: str = "color,translation,cutout",
        pool_size: int = 50,
        seed: int = 0,
        **kwargs,
    ):
        kwargs.setdefault("name", "cyclegan")
        super().__init__(**kwargs)
        if cycle_weight < 0 or identity_weight < 0 or perceptual_weight < 0:
            raise ValueError(
                "Loss weights must be >= 0. Received: "
                f"cycle_weight={cycle_weight}, identity_weight={identity_weight}, "
                f"perceptual_weight={perceptual_weight}"
            )
        if perceptual_weight > 0 and perceptual_features is None:
            raise ValueError(
                "`perceptual_weight` > 0 needs `perceptual_features`. "
                f"Received: perceptual_weight={perceptual_weight}, perceptual_features=None"
            )
        parse_policy(diffaugment)  # raises ValueError naming an unknown transform
        self.gen_G = gen_G
        self.gen_F = gen_F
        self.disc_X = disc_X
        self.disc_Y = disc_Y
        self.cycle_weight = float(cycle_weight)
        self.identity_weight = float(identity_weight)
        self.perceptual_weight = float(perceptual_weight)
        self.perceptual_features = perceptual_features if perceptual_weight > 0 else None
        self.diffaugment = diffaugment
        self.augment_seed = ReplicaSeedGenerator(seed, name="diffaugment_seed")
        # float32 pools whatever the policy: they store and return images, not activations.
        self.pool_X = ImagePool(pool_size, seed=seed + 1, dtype="float32", name="pool_X")
        self.pool_Y = ImagePool(pool_size, seed=seed + 2, dtype="float32", name="pool_Y")
        image_shape = tuple(gen_G.input_shape)
        self.pool_X.build(image_shape)
        self.pool_Y.build(image_shape)
        names = CYCLEGAN_METRICS + (("perceptual_loss",) if self.perceptual_features else ())
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}
        # The networks come built; without this Keras' fit under a strategy would trace
        # `call` on a training batch to build the wrapper.
        self.built = True

    def call(self, photos, training=False):
        """Photo → Monet: `gen_G`."""
        return self.gen_G(photos, training=training)

    def compile(
        self,
        gen_G_optimizer,
        gen_F_optimizer,
        disc_X_optimizer,
        disc_Y_optimizer,
        loss: str = "lsgan",
        **kwargs,
    ):
        """Sets the four optimizers and the adversarial loss kind, and builds the optimizers.

        Call it inside the strategy's scope. The optimizers are built here, on their
        models' variables: built lazily inside the first distributed step, Keras 3 fails
        with "You must feed a value for placeholder tensor".

        Args:
            gen_G_optimizer, gen_F_optimizer, disc_X_optimizer, disc_Y_optimizer: one
                optimizer per network (four distinct instances).
            loss: "lsgan" (default), "bce" or "hinge" (`painter.models.losses.LOSSES`).
            **kwargs: `keras.Model.compile` arguments (`jit_compile`, `run_eagerly`).
        """
        if loss not in gan_losses.LOSSES:
            raise ValueError(
                f"Unknown GAN loss; known: {', '.join(gan_losses.LOSSES)}. Received: loss={loss!r}"
            )
        optimizers = (gen_G_optimizer, gen_F_optimizer, disc_X_optimizer, disc_Y_optimizer)
        if len({id(o) for o in optimizers}) != 4:
            raise ValueError("Each network needs its own optimizer instance; received shared ones.")
        super().compile(optimizer=None, **kwargs)
        self.gen_G_optimizer = gen_G_optimizer
        self.gen_F_optimizer = gen_F_optimizer
        self.disc_X_optimizer = disc_X_optimizer
        self.disc_Y_optimizer = disc_Y_optimizer
        self.loss_kind = loss
        # Under float16 loss scaling each generator's optimizer scales its own loss with
        # its own dynamic scale, which one joint loss cannot serve.
        self.joint_generator_gradient = not any(
            isinstance(o, keras.optimizers.LossScaleOptimizer) for o in optimizers[:2]
        )
        for optimizer, network in zip(optimizers, self.networks.values()):
            optimizer.build(network.trainable_variables)

    @property
    def networks(self) -> dict[str, keras.Model]:
        """The four trained networks by paper name; checkpoints hold exactly these."""
        return {
            "gen_G": self.gen_G,
            "gen_F": self.gen_F,
            "disc_X": self.disc_X,
            "disc_Y": self.disc_Y,
        }

    @property
    def optimizers(self) -> dict[str, keras.optimizers.Optimizer]:
        """The optimizer of each network, by the network's name."""
        return {
            "gen_G": self.gen_G_optimizer,
            "gen_F": self.gen_F_optimizer,
            "disc_X": self.disc_X_optimizer,
            "disc_Y": self.disc_Y_optimizer,
        }

    @property
    def metrics(self):
        return list(self.trackers.values())

    def _discriminate(self, discriminator, pool, real, fake):
        """Logits of `discriminator` on real images, on pooled fakes (for its own loss) and
        on the fresh fakes (for the generator's loss), through one DiffAugment call."""
        real, fake = ops.cast(real, "float32"), ops.cast(fake, "float32")
        pooled = pool(fake, training=True)
        parts = [real, pooled, fake] if pool.pool_size else [real, fake]
        images = ops.concatenate(parts, axis=0)
        if self.diffaugment:
            images = diff_augment(images, self.diffaugment, self.augment_seed)
        logits = ops.split(discriminator(images, training=True), len(parts), axis=0)
        return logits[0], logits[1], logits[-1]  # real, for D's loss, for G's loss

    def _cycle_terms(self, real, cycled):
        terms = gan_losses.cycle_loss(real, cycled)
        if self.perceptual_features is not None:
            from painter.models.perceptual import perceptual_loss

            perceptual = perceptual_loss(self.perceptual_features, real, cycled)
            return terms, perceptual
        return terms, None

    def train_step(self, data):
        real_x, real_y = data  # photos, Monets

        with tf.GradientTape(persistent=True) as tape:
            # 1. Translate both ways, then back: x → G(x) → F(G(x)), y → F(y) → G(F(y)).
            fake_y = self.gen_G(real_x, training=True)
            cycled_x = self.gen_F(fake_y, training=True)
            fake_x = self.gen_F(real_y, training=True)
            cycled_y = self.gen_G(fake_x, training=True)

            # 2. Identity mapping: a generator fed its own output domain should not change it.
            same_x = self.gen_F(real_x, training=True)
            same_y = self.gen_G(real_y, training=True)

            # 3. Discriminators on DiffAugment(real ‖ pooled fakes ‖ fresh fakes).
            real_x_logits, pooled_x_logits, fake_x_logits = self._discriminate(
                self.disc_X, self.pool_X, real_x, fake_x
            )
            real_y_logits, pooled_y_logits, fake_y_logits = self._discriminate(
                self.disc_Y, self.pool_Y, real_y, fake_y
            )

            # 4. Per-example losses (float32 whatever the compute dtype).
            adversarial_G = gan_losses.generator_loss(self.loss_kind, fake_y_logits)
            adversarial_F = gan_losses.generator_loss(self.loss_kind, fake_x_logits)
            cycle_x, perceptual_x = self._cycle_terms(real_x, cycled_x)
            cycle_y, perceptual_y = self._cycle_terms(real_y, cycled_y)
            cycle = cycle_x + cycle_y
            # Both generators share the whole cycle loss, as in Zhu et al.
            cycle_term = self.cycle_weight * cycle
            if perceptual_x is not None:
                perceptual = perceptual_x + perceptual_y
                cycle_term = cycle_term + self.perceptual_weight * perceptual
            identity_x = gan_losses.identity_loss(real_x, same_x)
            identity_y = gan_losses.identity_loss(real_y, same_y)
            identity_scale = self.cycle_weight * self.identity_weight
            total_G = adversarial_G + cycle_term + identity_scale * identity_y
            total_F = adversarial_F + cycle_term + identity_scale * identity_x
            loss_D_X = gan_losses.discriminator_loss(
                self.loss_kind, real_x_logits, pooled_x_logits
            )
            loss_D_Y = gan_losses.discriminator_loss(
                self.loss_kind, real_y_logits, pooled_y_logits
            )

            # 5. Reduce over the GLOBAL batch; scale for mixed float16 (a no-op otherwise).
            losses = {
                "disc_X": self.disc_X_optimizer.scale_loss(global_mean(loss_D_X)),
                "disc_Y": self.disc_Y_optimizer.scale_loss(global_mean(loss_D_Y)),
            }
            if self.joint_generator_gradient:
                # Zhu et al.'s one generator loss. adv_F and identity_x do not depend on G
                # (nor adv_G and identity_y on F), so its gradient w.r.t. G is that of
                # total_G and w.r.t. F that of total_F; one backward pass through the two
                # cycles instead of one per generator.
                # (No loss scaling here, so scale_loss is the identity; kept for the
                # float32 check of what reaches the gradient.)
                losses["generators"] = self.gen_G_optimizer.scale_loss(
                    global_mean(total_G + total_F - cycle_term)
                )
            else:
                losses["gen_G"] = self.gen_G_optimizer.scale_loss(global_mean(total_G))
                losses["gen_F"] = self.gen_F_optimizer.scale_loss(global_mean(total_F))

        # 6. Gradients of each network's loss, applied by its own optimizer (which sums
        # them over replicas).
        if self.joint_generator_gradient:
            g_variables = self.gen_G.trainable_variables
            f_variables = self.gen_F.trainable_variables
            gradients = tape.gradient(losses["generators"], g_variables + f_variables)
            self.gen_G_optimizer.apply_gradients(zip(gradients[: len(g_variables)], g_variables))
            self.gen_F_optimizer.apply_gradients(zip(gradients[len(g_variables) :], f_variables))
        for name, network in self.networks.items():
            if name not in losses:
                continue
            variables = network.trainable_variables
            gradients = tape.gradient(losses[name], variables)
            self.optimizers[name].apply_gradients(zip(gradients, variables))
        del tape

        # 7. Metrics: means over every example of every replica.
        values = {
            "G_loss": total_G,
            "F_loss": total_F,
            "D_X_loss": loss_D_X,
            "D_Y_loss": loss_D_Y,
            "cycle_loss": cycle,
            "identity_loss": identity_x + identity_y,
        }
        if self.perceptual_features is not None:
            values["perceptual_loss"] = perceptual
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return step_logs({name: tracker.result() for name, tracker in self.trackers.items()})


def build_cyclegan(
    config: CycleGANConfig, perceptual_features: keras.Model | None = None
) -> CycleGAN:
    """The four networks of `config` wrapped in a `CycleGAN` (call inside the strategy scope).

    The VGG19 features of the perceptual loss are built here when `perceptual_weight` > 0
    and none are passed (raising WeightsError where ImageNet weights cannot be had).
    """
    if config.perceptual_weight > 0 and perceptual_features is None:
        from painter.models.perceptual import vgg19_features

        perceptual_features = vgg19_features()
    return CycleGAN(
        build_generator(config, name="gen_G"),
        build_generator(config, name="gen_F"),
        patchgan_discriminator(config, name="disc_X"),
        patchgan_discriminator(config, name="disc_Y"),
        cycle_weight=config.cycle_weight,
        identity_weight=config.identity_weight,
        perceptual_weight=config.perceptual_weight,
        perceptual_features=perceptual_features,
        diffaugment=config.diffaugment,
        pool_size=config.pool_size,
        seed=config.seed,
    )


def compile_cyclegan(
    model: CycleGAN, config: CycleGANConfig, steps_per_epoch: int, jit_compile: bool
) -> None:
    """Compiles with four Adams on `cyclegan_schedule` (call inside the strategy scope);
    gen_G's stylizer base, if any, learns at `base_lr_multiplier` times the rate."""
    from painter.models.generators import base_lr_multipliers

    optimizers = [
        adam(
            cyclegan_schedule(config, steps_per_epoch),
            config.beta_1,
            config.mixed_precision,
            name=f"{name}_adam",
            multipliers=base_lr_multipliers(model.gen_G, config) if name == "gen_G" else None,
        )
        for name in ("gen_G", "gen_F", "disc_X", "disc_Y")
    ]
    model.compile(*optimizers, loss=config.loss, jit_compile=jit_compile)


def match_from_data(
    model: CycleGAN, config: CycleGANConfig, photos, monets, log=print, max_photos: int = 1000
) -> None:
    """Sets each generator's data-derived start, gen_G's from the photos towards the Monets
    and gen_F's (where the model has one; CUT has not) the reverse:

    - `tone_curve_init = "match"`: the tone curve is the histogram match between the
      domains' per-channel value distributions;
    - `color_transfer = "lab"`: the target of the Lab colour transfer is the other
      domain's Lab mean and standard deviation.

    On its own either start is a colour-matching baseline (docs/BENCHMARKS.md scores both);
    training starts from it instead of from the photo, and the MiFID-tracked `best` can
    only improve on it. `CycleGANConfig.starts_from_data` says whether a config has one.

    Args:
        model: anything with its generators as `gen_G` and, optionally, `gen_F`.
        config: the config they were built from.
        photos, monets: iterables of uint8 (h, w, 3) images; at most `max_photos` photos
            are read (the statistics settle long before).
    """
    import itertools

    from painter.data.color import channel_histograms, histogram_match_curve, lab_statistics

    photos = list(itertools.islice(photos, max_photos))
    monets = list(monets)
    gen_F = getattr(model, "gen_F", None)
    if config.tone_curve and config.tone_curve_init == "match":
        photo_counts, monet_counts = channel_histograms(photos), channel_histograms(monets)
        pairs = [(model.gen_G, photo_counts, monet_counts)]
        if gen_F is not None:
            pairs.append((gen_F, monet_counts, photo_counts))
        for network, source, target in pairs:
            curve = network.get_layer(f"{network.name}_tone_curve")
            curve.set_curve(histogram_match_curve(source, target, curve.knots()))
        log(
            f"tone curves: histogram match of {len(photos):,} training photos to "
            f"{len(monets):,} Monets, per channel"
        )
    if config.color_transfer == "lab":
        photo_mean, photo_std, _ = lab_statistics(photos)
        monet_mean, monet_std, _ = lab_statistics(monets)
        model.gen_G.get_layer("gen_G_color_transfer").set_target(monet_mean, monet_std)
        message = (f"colour transfer: Lab mean {_rounded(monet_mean)}, std "
                   f"{_rounded(monet_std)} of {len(monets):,} Monets (gen_G)")
        if gen_F is not None:
            gen_F.get_layer("gen_F_color_transfer").set_target(photo_mean, photo_std)
            message += (f"; {_rounded(photo_mean)}, {_rounded(photo_std)} of "
                        f"{len(photos):,} training photos (gen_F)")
        log(message)


def _rounded(values) -> list:
    return [round(float(v), 2) for v in values]
