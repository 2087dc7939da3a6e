"""Contrastive unpaired translation (CUT and FastCUT, Park et al. 2020) as one
`keras.Model` with its own `train_step`, after the authors' `cut_model.py`.

One generator, one discriminator and a projection head, with X = photos, Y = Monets:

    gen_G   G: X → Y, photo → Monet (the generator the submission uses)
    disc_Y  D: tells real Monets from G's fakes (a PatchGAN)
    head    the PatchNCE projection head (the authors' netF) on G's encoder features

G's loss is λ_GAN · GAN(G(x)) + λ_NCE · PatchNCE(x, G(x)), where PatchNCE compares G's own
encoder features of x and of G(x) at the same sampled positions
(`painter.models.patchnce`). CUT adds the identity PatchNCE(y, G(y)) and averages the two;
FastCUT drops it, weighs NCE by 10 and asks for flip equivariance: on a coin toss per step
the input is flipped left-right and the features of G(flip(x)) are flipped back before
they meet those of x.

Every loss is computed per example and reduced over the GLOBAL batch (`global_mean`); the
NCE loss of an image only ever sees that image's patches, and its patch positions come
from a seed generator that draws the same on every replica, so one step on N replicas
equals one step on one device with the same global batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras
from keras import ops

from painter.models import losses as gan_losses
from painter.models.diffaugment import diff_augment, parse_policy
from painter.models.discriminators import patchgan_discriminator
from painter.models.generators import build_generator, encoder_features
from painter.models.patchnce import (
    NCE_TEMPERATURE,
    gather_patches,
    patch_nce_loss,
    projection_head,
    sample_positions,
)
from painter.train.pool import ImagePool
from painter.train.step import ReplicaSeedGenerator, StepLosses, global_mean
from painter.train.trainer import GANTrainer
from painter.train.schedules import adam, cyclegan_schedule

if TYPE_CHECKING:  # for type hints only: the family module imports this one
    from painter.families.cut import CUTConfig


class CUT(GANTrainer):
    """A generator, a discriminator and the PatchNCE head trained together.

    The head's input widths are those of the generator's encoder layers; the authors'
    PyTorch code learns them in a first forward pass and only then creates the head and its
    optimizer. Here the generator is a built functional model whose layer shapes are
    known, so the head is built with the model and its optimizer in `compile`, both before
    the first step: Keras 3 cannot build an optimizer inside a distributed step, and a
    checkpoint holds the head like any other network.

    Args:
        gen_G: photo → Monet ResNet generator (`encoder_features` reads its layers).
        disc_Y: discriminator of Monets.
        lambda_gan: weight of G's adversarial loss. Defaults to 1.0.
        lambda_nce: weight of the PatchNCE loss. Defaults to 1.0 (CUT; FastCUT: 10).
        nce_identity: also PatchNCE(y, G(y)) on the Monets, averaged with the photos'
            (CUT). Defaults to True.
        flip_equivariance: FastCUT's flip of the inputs on a coin toss per step, undone on
            the output's features. Defaults to False.
        nce_patches: positions sampled per encoder layer. Defaults to 256.
        nce_temperature: τ. Defaults to 0.07.
        head_units: the projection head's width. Defaults to 256.
        diffaugment: DiffAugment policy before the discriminator; "" (default) disables it.
        pool_size: past fakes kept for the discriminator (`ImagePool`); 0 (default, as the
            authors) disables it.
        seed: seed of the augmentations, the pool, the patch positions and the flips.
        **kwargs: `keras.Model` arguments (`name`).
    """

    def __init__(
        self,
        gen_G: keras.Model,
        disc_Y: keras.Model,
        *,
        lambda_gan: float = 1.0,
        lambda_nce: float = 1.0,
        nce_identity: bool = True,
        flip_equivariance: bool = False,
        nce_patches: int = 256,
        nce_temperature: float = NCE_TEMPERATURE,
        head_units: int = 256,
        diffaugment: str = "",
        pool_size: int = 0,
        seed: int = 0,
        **kwargs,
    ):
        kwargs.setdefault("name", "cut")
        super().__init__(**kwargs)
        if lambda_gan < 0 or lambda_nce < 0:
            raise ValueError(
                "Loss weights must be >= 0. Received: "
                f"lambda_gan={lambda_gan}, lambda_nce={lambda_nce}"
            )
        if nce_patches < 1 or nce_temperature <= 0:
            raise ValueError(
                "`nce_patches` must be >= 1 and `nce_temperature` > 0. Received: "
                f"nce_patches={nce_patches}, nce_temperature={nce_temperature}"
            )
        parse_policy(diffaugment)  # raises ValueError naming an unknown transform
        self.gen_G = gen_G
        self.disc_Y = disc_Y
        self.encoder = encoder_features(gen_G)
        # G's output and the encoder features of its input in one pass: the keys of x come
        # from the very pass that makes G(x) (without a flip; see train_step).
        self.gen_G_with_features = keras.Model(
            gen_G.input, [gen_G.output, *self.encoder.outputs], name="gen_G_with_features"
        )
        self.head = projection_head(
            [int(t.shape[-1]) for t in self.encoder.outputs], head_units, name="head"
        )
        self.lambda_gan = float(lambda_gan)
        self.lambda_nce = float(lambda_nce)
        self.nce_identity = bool(nce_identity)
        self.flip_equivariance = bool(flip_equivariance)
        self.nce_patches = int(nce_patches)
        self.nce_temperature = float(nce_temperature)
        self.diffaugment = diffaugment
        self.augment_seed = ReplicaSeedGenerator(seed, name="diffaugment_seed")
        # A plain SeedGenerator: under a strategy every replica draws the same positions
        # and the same coin, as one device would for the whole batch.
        self.patch_seed = keras.random.SeedGenerator(seed + 3, name="patch_seed")
        self.pool_Y = ImagePool(pool_size, seed=seed + 2, dtype="float32", name="pool_Y")
        self.pool_Y.build(tuple(gen_G.input_shape))
        names = ["G_loss", "adversarial_loss", "nce_loss", "D_loss"]
        if self.nce_identity:
            names.insert(3, "nce_identity_loss")
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}
        self.built = True

    def call(self, photos, training=False):
        """Photo → Monet: `gen_G`."""
        return self.gen_G(photos, training=training)

    def compile(self, gen_G_optimizer, disc_Y_optimizer, head_optimizer, loss: str = "lsgan",
                **kwargs):
        """Sets the three optimizers and the adversarial loss kind, and builds the optimizers
        (call inside the strategy's scope).

        Args:
            gen_G_optimizer, disc_Y_optimizer, head_optimizer: one optimizer per network
                (three distinct instances).
            loss: "lsgan" (default, the authors'), "bce" or "hinge".
            **kwargs: `keras.Model.compile` arguments (`jit_compile`, `run_eagerly`).
        """
        if loss not in gan_losses.LOSSES:
            raise ValueError(
                f"Unknown GAN loss; known: {', '.join(gan_losses.LOSSES)}. Received: loss={loss!r}"
            )
        optimizers = (gen_G_optimizer, disc_Y_optimizer, head_optimizer)
        if len({id(o) for o in optimizers}) != 3:
            raise ValueError("Each network needs its own optimizer instance; received shared ones.")
        super().compile(optimizer=None, **kwargs)
        self.gen_G_optimizer = gen_G_optimizer
        self.disc_Y_optimizer = disc_Y_optimizer
        self.head_optimizer = head_optimizer
        self.loss_kind = loss
        # Under float16 loss scaling each optimizer scales the loss with its own dynamic
        # scale, so the generator and the head need a gradient each.
        self.joint_generator_gradient = not any(
            isinstance(o, keras.optimizers.LossScaleOptimizer)
            for o in (gen_G_optimizer, head_optimizer)
        )
        for optimizer, network in zip(optimizers, self.networks.values()):
            optimizer.build(network.trainable_variables)
        self.use_step_state()

    @property
    def networks(self) -> dict[str, keras.Model]:
        """The three trained networks; checkpoints hold exactly these."""
        return {"gen_G": self.gen_G, "disc_Y": self.disc_Y, "head": self.head}

    @property
    def optimizers(self) -> dict[str, keras.optimizers.Optimizer]:
        """The optimizer of each network, by the network's name."""
        return {"gen_G": self.gen_G_optimizer, "disc_Y": self.disc_Y_optimizer,
                "head": self.head_optimizer}

    @property
    def metrics(self):
        return list(self.trackers.values())

    def _discriminate(self, real, fake):
        """Logits of disc_Y on real Monets, on pooled fakes (for its own loss) and on the
        fresh fakes (for G's loss), through one DiffAugment call."""
        real, fake = ops.cast(real, "float32"), ops.cast(fake, "float32")
        pooled = self.pool_Y(fake, training=True)
        parts = [real, pooled, fake] if self.pool_Y.pool_size else [real, fake]
        images = ops.concatenate(parts, axis=0)
        if self.diffaugment:
            images = diff_augment(images, self.diffaugment, self.augment_seed)
        logits = ops.split(self.disc_Y(images, training=True), len(parts), axis=0)
        return logits[0], logits[1], logits[-1]

    def _patch_nce(self, keys, queries):
        """PatchNCE per image, averaged over the encoder layers: the same positions in
        both, the head on both at once."""
        positions = sample_positions(keys, self.nce_patches, self.patch_seed)
        key_patches = gather_patches(keys, positions)
        query_patches = gather_patches(queries, positions)
        batch = ops.shape(key_patches[0])[0]
        projected = self.head(
            [ops.concatenate([k, q], axis=0) for k, q in zip(key_patches, query_patches)],
            training=True,
        )
        layers = [patch_nce_loss(p[batch:], p[:batch], self.nce_temperature) for p in projected]
        return ops.mean(ops.stack(layers, axis=0), axis=0)

    def compute_losses(self, data) -> StepLosses:
        real_x, real_y = data  # photos, Monets
        batch = ops.shape(real_x)[0]

        # 1. G on the photos (and, for the identity NCE, on the Monets) in one pass.
        inputs = ops.concatenate([real_x, real_y], axis=0) if self.nce_identity else real_x
        if self.flip_equivariance:
            flip = keras.random.uniform((), seed=self.patch_seed) < 0.5
            fakes = self.gen_G(ops.where(flip, ops.flip(inputs, axis=2), inputs), training=True)
            # The keys are the features of the unflipped inputs (no gradient: a forward
            # pass only).
            keys = self.encoder(inputs, training=True)
        else:
            fakes, *keys = self.gen_G_with_features(inputs, training=True)
        # 2. The queries: G's encoder on its own outputs, flipped back where flipped.
        queries = self.encoder(fakes, training=True)
        if self.flip_equivariance:
            queries = [ops.where(flip, ops.flip(q, axis=2), q) for q in queries]
        fake_y = fakes[:batch]

        # 3. PatchNCE per image: photos vs their translations (and Monets vs G(Monet)).
        nce_x = self._patch_nce([k[:batch] for k in keys], [q[:batch] for q in queries])
        if self.nce_identity:
            nce_y = self._patch_nce([k[batch:] for k in keys], [q[batch:] for q in queries])
            nce = 0.5 * (nce_x + nce_y)
        else:
            nce = nce_x

        # 4. The discriminator; per-example losses in float32.
        real_logits, pooled_logits, fake_logits = self._discriminate(real_y, fake_y)
        adversarial = gan_losses.generator_loss(self.loss_kind, fake_logits)
        total_G = self.lambda_gan * adversarial + self.lambda_nce * nce
        loss_D = gan_losses.discriminator_loss(self.loss_kind, real_logits, pooled_logits)

        # 5. Reduce over the GLOBAL batch; scale for mixed float16 (a no-op otherwise).
        losses = {"disc_Y": self.disc_Y_optimizer.scale_loss(global_mean(loss_D))}
        if self.joint_generator_gradient:
            losses["generator"] = self.gen_G_optimizer.scale_loss(global_mean(total_G))
        else:
            losses["gen_G"] = self.gen_G_optimizer.scale_loss(global_mean(total_G))
            losses["head"] = self.head_optimizer.scale_loss(global_mean(total_G))
        values = {"G_loss": total_G, "adversarial_loss": adversarial, "nce_loss": nce_x,
                  "D_loss": loss_D}
        if self.nce_identity:
            values["nce_identity_loss"] = nce_y
        # G and the head share one loss: one backward pass.
        return StepLosses(losses=losses, metrics=values, shared={"generator": ("gen_G", "head")})


def build_cut(config: CUTConfig) -> CUT:
    """The generator, discriminator and head of `config` wrapped in a `CUT` (call inside
    the strategy scope)."""
    return CUT(
        build_generator(config, name="gen_G"),
        patchgan_discriminator(config, name="disc_Y"),
        lambda_gan=config.lambda_gan,
        lambda_nce=config.lambda_nce,
        nce_identity=config.nce_identity,
        flip_equivariance=config.flip_equivariance,
        nce_patches=config.nce_patches,
        nce_temperature=config.nce_temperature,
        head_units=config.head_units,
        diffaugment=config.diffaugment,
        pool_size=config.pool_size,
        seed=config.seed,
    )


def compile_cut(model: CUT, config: CUTConfig, steps_per_epoch: int, jit_compile: bool) -> None:
    """Compiles with three Adams (β = (β₁, 0.999)) on the constant-then-linear schedule
    (call inside the strategy scope); gen_G's stylizer base, if any, learns at
    `base_lr_multiplier` times the rate."""
    from painter.models.generators import base_lr_multipliers

    optimizers = [
        adam(
            cyclegan_schedule(config, steps_per_epoch),
            config.beta_1,
            config.mixed_precision,
            name=f"{name}_adam",
            multipliers=base_lr_multipliers(model.gen_G, config) if name == "gen_G" else None,
        )
        for name in ("gen_G", "disc_Y", "head")
    ]
    model.compile(*optimizers, loss=config.loss, jit_compile=jit_compile)
