"""The latent-noise GAN family: a ResNet generator from latents against a spectral-norm
PatchGAN (`painter.train.noise_gan.NoiseGAN`). It trains on the Monets alone; its
submission generator samples seeded latents.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from painter.errors import UsageError
from painter.families.base import Family


@dataclasses.dataclass(frozen=True)
class NoiseGANConfig:
    """Latent-noise ResNet generator against a spectral-norm PatchGAN discriminator."""

    family: str = "noise_gan"
    image_size: int = 256
    augment: bool = True
    latent_dim: int = 128
    gen_filters: int = 512  # channels at 4×4; halved by each up block, floored at 32
    disc_filters: int = 64
    disc_layers: int = 3
    diffaugment: str = "color,translation,cutout"
    learning_rate_g: float = 1e-4
    learning_rate_d: float = 1e-5
    beta_1: float = 0.5
    clipnorm: float = 1.0
    batch_size: int = 16  # global; splits over 2 (T4 × 2) and 8 (TPU v5e-8) replicas
    epochs: int = 300
    steps_per_epoch: int = 0  # 0: one pass over all Monets
    mixed_precision: str = ""
    jit_compile: bool = True
    seed: int = 0
    keep_checkpoints: int = 3
    sample_images: int = 6
    # the generator's exponential moving average (painter.train.ema), e.g. 0.999; 0: none
    ema_decay: float = 0.0


class NoiseGANFamily(Family):
    name = "noise_gan"
    config_class = NoiseGANConfig
    architecture_fields = ("image_size", "latent_dim", "gen_filters", "disc_filters", "disc_layers")
    generator_network = "generator"
    discriminator_network = "discriminator"
    takes_photos = False

    def build(self, config):
        from painter.train.noise_gan import build_noise_gan

        return build_noise_gan(config)

    def compile(self, model, config, steps_per_epoch: int, jit_compile: bool) -> None:
        from painter.train.noise_gan import compile_noise_gan

        compile_noise_gan(model, config, jit_compile)

    def dataset(self, config, root: Path, seed: int, photos=None):
        from painter.backend import has_tensorflow
        from painter.data import count_images

        monets = count_images((root, "monet"))
        if monets < config.batch_size:
            raise UsageError(f"{root}: {monets} Monets, fewer than one batch of {config.batch_size}")
        options = dict(
            image_size=config.image_size,
            batch_size=config.batch_size,
            shuffle=True,
            augment=config.augment,
            repeat=True,
            # Decoded once: decoding the Monets again every epoch is a measurable share of
            # a noise-GAN step (docs/BENCHMARKS.md, bench_train --ablate).
            cache=True,
            seed=seed,
        )
        if not has_tensorflow():
            from painter.data.arrays import monet_arrays

            return monet_arrays(root, **options), monets // config.batch_size
        from painter.data import monet_dataset

        return monet_dataset(root, **options).repeat(), monets // config.batch_size

    def sample_inputs(self, config, root: Path, model) -> np.ndarray:
        """Seeded latents."""
        return np.asarray(model.sample_latents(max(1, config.sample_images), seed=config.seed))

    def sample_grid(self, model, inputs: np.ndarray, generator=None
                    ) -> tuple[np.ndarray, int | None]:
        generator = generator if generator is not None else model.generator
        return np.asarray(generator(inputs, training=False)), None

    def step_passes(self, config, executed: bool = False, separate: bool = False):
        # One generator pass; the discriminator on real and fake; forward + backward.
        if executed:
            return 3, 8
        return 3, 6

    def build_generator(self, config):
        from painter.models.noise_gan import noise_generator

        return noise_generator(config, name="noise_generator")


FAMILY = NoiseGANFamily()
