"""CycleGAN training (Zhu et al. 2017) as one `keras.Model` with its own `train_step`.

Names follow the paper, with X = photos and Y = Monets:

    gen_G   G: X → Y, photo → Monet (the generator the submission uses)
    gen_F   F: Y → X, Monet → photo
    disc_X  D_X: tells real photos from F's fakes
    disc_Y  D_Y: tells real Monets from G's fakes

Every loss is computed per example and reduced over the GLOBAL batch (`global_mean`), so
one step on N replicas equals one step on one device with the same global batch.

A staged run (`CycleGANConfig.stages`) trains one direction at a time before the joint
objective: in a "G,D_Y" stage gen_G and disc_Y learn from the adversarial and identity
losses alone while gen_F, disc_X and their optimizers stay exactly as they are (and "F,D_X"
the other way). The stage is a function of the run's step (`StagePlan`), which the
optimizers' step counters give back after a resume, so a checkpoint needs nothing more;
each stage has its own compiled step (`CycleGAN.make_train_function`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras
from keras import ops

from painter.models import losses as gan_losses
from painter.models.diffaugment import diff_augment, parse_policy
from painter.models.discriminators import patchgan_discriminator
from painter.models.generators import build_generator
from painter.train.pool import ImagePool
from painter.train.step import ReplicaSeedGenerator, StepLosses, global_mean
from painter.train.trainer import GANTrainer
from painter.train.schedules import adam, cyclegan_schedule

from painter.families.stages import parse_stages

if TYPE_CHECKING:  # for type hints only: the family module imports this one
    from painter.families.cyclegan import CycleGANConfig

CYCLEGAN_METRICS = ("G_loss", "F_loss", "D_X_loss", "D_Y_loss", "cycle_loss", "identity_loss")
# The metrics each kind of stage reports (`Stage.train`); a staged run adds "stage", the
# stage's number from 1, which history.csv keeps and the loss curves mark.
STAGE_METRICS = {
    "G,D_Y": ("G_loss", "D_Y_loss", "identity_loss"),
    "F,D_X": ("F_loss", "D_X_loss", "identity_loss"),
}
OPTIMIZED = ("gen_G", "gen_F", "disc_X", "disc_Y")


class StagePlan:
    """Where each stage of a staged run begins and ends, in the run's steps.

    Args:
        stages: the `Stage`s (`painter.families.cyclegan.parse_stages`), at least one.
        steps_per_epoch: the run's epoch length; stages last whole epochs.
    """

    def __init__(self, stages, steps_per_epoch: int):
        if not stages or steps_per_epoch < 1:
            raise ValueError(
                "A stage plan needs stages and a positive epoch length. "
                f"Received: stages={stages!r}, steps_per_epoch={steps_per_epoch}"
            )
        self.stages = tuple(stages)
        self.steps_per_epoch = int(steps_per_epoch)
        self.starts = []  # the run step each stage begins at
        step = 0
        for stage in self.stages:
            self.starts.append(step)
            step += (stage.epochs or 0) * self.steps_per_epoch
        # The last stage lasts until the run ends, whatever its epochs.

    def index_at(self, step: int) -> int:
        """The index of the stage that run step `step` (counted from 0) belongs to."""
        return max(i for i, start in enumerate(self.starts) if start <= step)

    def span(self, index: int) -> tuple[int, float]:
        """(first step, end step) of stage `index`; the last one ends never (inf)."""
        last = index == len(self.stages) - 1
        return self.starts[index], float("inf") if last else self.starts[index + 1]

    def run_step(self, counts: dict[str, int]) -> int:
        """The run's step from each optimizer's step count ({network: steps it took}).

        An optimizer counts only the steps of stages that train its network; for each, the
        earliest run step at which it could have taken its count, and the run's step is
        the latest of these (in every stage some network trains, and its count is exact).
        """
        latest = 0
        for name, count in counts.items():
            step, left = 0, int(count)
            for index, stage in enumerate(self.stages):
                if left <= 0:
                    break
                if name in stage.networks:
                    first, end = self.span(index)
                    taken = min(left, end - first)
                    step, left = int(first + taken), left - taken
            latest = max(latest, step)
        return latest

    def idle_epochs(self, network: str, epochs: int) -> int:
        """The epochs among the run's first `epochs` in which `network` does not train."""
        idle = 0
        for index, stage in enumerate(self.stages):
            first, end = self.span(index)
            first_epoch = first // self.steps_per_epoch
            end_epoch = min(epochs, end // self.steps_per_epoch) if end != float("inf") else epochs
            if network not in stage.networks:
                idle += max(0, end_epoch - first_epoch)
        return idle


class CycleGAN(GANTrainer):
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
        stages: the `Stage`s of a staged run (`painter.families.cyclegan.parse_stages`);
            () (default) trains all four networks at every step. `compile` needs the
            epoch length then.
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
        stages: tuple = (),
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
        self.stages = tuple(stages)
        if self.stages:
            names += ("stage",)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}
        self.stage_plan: StagePlan | None = None  # set by `compile` for a staged run
        self._stage = None  # the index of the stage whose step runs (or is traced) now
        self._metrics_stage = None  # the stage of the last step run: whose metrics count
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
        steps_per_epoch: int | None = None,
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
            steps_per_epoch: the run's epoch length; a staged model needs it (its stages
                last whole epochs).
            **kwargs: `keras.Model.compile` arguments (`jit_compile`, `run_eagerly`).
        """
        if loss not in gan_losses.LOSSES:
            raise ValueError(
                f"Unknown GAN loss; known: {', '.join(gan_losses.LOSSES)}. Received: loss={loss!r}"
            )
        optimizers = (gen_G_optimizer, gen_F_optimizer, disc_X_optimizer, disc_Y_optimizer)
        if len({id(o) for o in optimizers}) != 4:
            raise ValueError("Each network needs its own optimizer instance; received shared ones.")
        if self.stages:
            if kwargs.get("steps_per_execution", 1) != 1:
                raise ValueError(
                    "A staged CycleGAN runs one step per call (stages change between "
                    f"steps). Received: steps_per_execution={kwargs['steps_per_execution']}"
                )
            self.stage_plan = StagePlan(self.stages, steps_per_epoch or 0)
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
        self.use_step_state()

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
        """The trackers of the stage of the last step (all of them before the first)."""
        if self._metrics_stage is None:
            return list(self.trackers.values())
        return [self.trackers[name] for name in self._stage_metric_names(self._metrics_stage)]

    def _stage_metric_names(self, index: int | None) -> tuple[str, ...]:
        kind = "all" if index is None else self.stages[index].train
        names = STAGE_METRICS.get(kind) or tuple(n for n in self.trackers if n != "stage")
        return names + (("stage",) if self.stages else ())

    def run_step(self) -> int:
        """Steps the run has taken. Without stages, gen_G's optimizer's count; with them,
        counted back from all four optimizers (`StagePlan.run_step`), since those of the
        networks a stage leaves alone do not count its steps."""
        if self.stage_plan is None:
            return int(self.gen_G_optimizer.iterations.numpy())
        counts = {name: int(self.optimizers[name].iterations.numpy()) for name in OPTIMIZED}
        return self.stage_plan.run_step(counts)

    def make_train_function(self, force=False):
        """Without stages, Keras' train function. With them, a function that runs each
        step with the compiled step of its stage: one `tf.function` (and one XLA
        program) per stage, traced when the stage begins, so no step carries the
        branches of another stage. The stage follows the run's step, read from the
        optimizers once and then counted."""
        if self.stage_plan is None:
            return super().make_train_function(force=force)
        if self.train_function is not None and not force:
            return self.train_function
        compiled = {}
        # Read here, before a JAX `fit` moves the variables' values into its step state.
        next_step = [self.run_step()]

        def train_function(*args):
            # (iterator) on TensorFlow; (state, iterator) on JAX.
            index = self.stage_plan.index_at(next_step[0])
            if index not in compiled:
                # Each stage's step is a function of its own: JAX keys a jitted
                # function's traces by the function, so one bound `train_step` would
                # serve every stage the first stage's trace.
                def stage_step(*step_args, stage=index):
                    self._stage = stage
                    return GANTrainer.train_step(self, *step_args)

                self.train_step = stage_step
                try:
                    super(CycleGAN, self).make_train_function(force=True)
                finally:
                    del self.train_step
                compiled[index] = self.train_function
                self.train_function = train_function
            if index != self._metrics_stage:
                # A stage begins with an epoch: nothing of the last stage's means is lost.
                for tracker in self.trackers.values():
                    tracker.reset_state()
                self._metrics_stage = index
                if len(args) == 2:
                    # JAX threads the metrics' values: now those of this stage's trackers.
                    state, iterator = args
                    args = ((*state[:3], [v.value for v in self.metrics_variables]), iterator)
            logs = compiled[index](*args)
            next_step[0] += 1
            return logs

        self.train_function = train_function
        return train_function

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

    def logged_metrics(self) -> tuple[str, ...]:
        return self._stage_metric_names(self._stage)

    def compute_losses(self, data) -> StepLosses:
        real_x, real_y = data  # photos, Monets
        kind = "all" if self._stage is None else self.stages[self._stage].train
        if kind == "G,D_Y":
            step = self._one_way_step(real_x, real_y, forward=True)
        elif kind == "F,D_X":
            step = self._one_way_step(real_y, real_x, forward=False)
        else:
            step = self._joint_step(real_x, real_y)
        if self.stages:
            step.metrics["stage"] = ops.ones_like(step.metrics["identity_loss"]) * (self._stage + 1)
        return step

    def _one_way_step(self, source, target, forward: bool) -> StepLosses:
        """One direction with its discriminator: gen_G and disc_Y (`forward`, photos →
        Monets) or gen_F and disc_X, trained on the adversarial and identity losses alone.
        The other two networks are neither called nor updated, nor their optimizers."""
        if forward:
            generator, discriminator, pool = self.gen_G, self.disc_Y, self.pool_Y
            g_name, d_name = "gen_G", "disc_Y"
        else:
            generator, discriminator, pool = self.gen_F, self.disc_X, self.pool_X
            g_name, d_name = "gen_F", "disc_X"
        fake = generator(source, training=True)
        same = generator(target, training=True)  # identity: its own output domain
        real_logits, pooled_logits, fake_logits = self._discriminate(
            discriminator, pool, target, fake
        )
        adversarial = gan_losses.generator_loss(self.loss_kind, fake_logits)
        identity = gan_losses.identity_loss(target, same)
        total = adversarial + self.cycle_weight * self.identity_weight * identity
        loss_D = gan_losses.discriminator_loss(self.loss_kind, real_logits, pooled_logits)
        g_metric, d_metric, _ = STAGE_METRICS["G,D_Y" if forward else "F,D_X"]
        return StepLosses(
            losses={
                g_name: self.optimizers[g_name].scale_loss(global_mean(total)),
                d_name: self.optimizers[d_name].scale_loss(global_mean(loss_D)),
            },
            metrics={g_metric: total, d_metric: loss_D, "identity_loss": identity},
        )

    def _joint_step(self, real_x, real_y) -> StepLosses:
        """Zhu et al.'s step: both directions, both cycles, all four networks."""
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
        return StepLosses(losses=losses, metrics=values,
                          shared={"generators": ("gen_G", "gen_F")})


def build_cyclegan(
    config: CycleGANConfig, perceptual_features: keras.Model | None = None
) -> CycleGAN:
    """The four networks of `config` wrapped in a `CycleGAN` (call inside the strategy scope).

    The features of the perceptual loss (`perceptual_network`: VGG19 or the stylizer's
    encoder) are built here when `perceptual_weight` > 0 and none are passed (raising
    WeightsError where their weights cannot be had).
    """
    if config.perceptual_weight > 0 and perceptual_features is None:
        from painter.models.perceptual import perceptual_features as feature_network

        perceptual_features = feature_network(config.perceptual_network)
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
        stages=parse_stages(config.stages),
    )


def compile_cyclegan(
    model: CycleGAN, config: CycleGANConfig, steps_per_epoch: int, jit_compile: bool
) -> None:
    """Compiles with four Adams on `cyclegan_schedule` (call inside the strategy scope);
    gen_G's stylizer base, if any, learns at `base_lr_multiplier` times the rate.

    In a staged run each optimizer counts only its own network's steps, so its schedule
    spans the epochs that network trains (`StagePlan.idle_epochs` fewer): each rate then
    decays over the run's last `decay_epochs` and reaches 0 when the run ends, as
    without stages (exactly so when the one-way stages end before the decay begins).
    """
    import dataclasses

    from painter.models.generators import base_lr_multipliers

    plan = StagePlan(model.stages, steps_per_epoch) if model.stages else None

    def schedule(name):
        idle = plan.idle_epochs(name, config.epochs) if plan else 0
        epochs = max(1, config.epochs - idle)
        own = dataclasses.replace(config, epochs=epochs,
                                  decay_epochs=min(config.decay_epochs, epochs))
        return cyclegan_schedule(own, steps_per_epoch)

    optimizers = [
        adam(
            schedule(name),
            config.beta_1,
            config.mixed_precision,
            name=f"{name}_adam",
            multipliers=base_lr_multipliers(model.gen_G, config) if name == "gen_G" else None,
        )
        for name in OPTIMIZED
    ]
    model.compile(*optimizers, loss=config.loss, jit_compile=jit_compile,
                  steps_per_epoch=steps_per_epoch)


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
