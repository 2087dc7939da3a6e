"""The pix2pix family (Isola et al. 2017): paired image-to-image translation with a U-Net
generator and a conditional PatchGAN (`painter.train.pix2pix.Pix2Pix`).

It trains on paired data (`painter.data.paired`: side-by-side A|B images, `A/` and `B/`
folders that pair by name, or paired TFRecords); its submission generator translates
inputs (A images, or B with `direction = "BtoA"`). Without `--data`, the embedded unpaired
sample stands for the embedded paired one (`painter.data.paired.PAIRED_SAMPLE_ROOT`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from painter.families.base import Family


@dataclasses.dataclass(frozen=True)
class Pix2PixConfig:
    """Paired A→B translation after Isola et al. 2017, with the paper's defaults."""

    family: str = "pix2pix"
    # data
    image_size: int = 256
    direction: str = "AtoB"  # "AtoB" | "BtoA"
    augment: bool = True  # random jitter (resize to 286, crop back) and mirroring, on both images
    # generator: the U-Net (8 down, 8 up at 256 px, skip connections)
    gen_filters: int = 64  # ngf
    dropout: float = 0.5  # first three decoder blocks, at generation too; 0 disables
    # discriminator: the conditional 70×70 PatchGAN
    disc_filters: int = 64  # ndf
    disc_layers: int = 3
    # losses
    loss: str = "bce"  # "bce" | "lsgan"
    l1_weight: float = 100.0  # λ
    # optimisation
    learning_rate: float = 2e-4
    beta_1: float = 0.5
    batch_size: int = 1  # global, over all replicas
    epochs: int = 200
    decay_epochs: int = 100  # the last `decay_epochs` decay linearly to 0
    steps_per_epoch: int = 0  # 0: one pass over all pairs
    mixed_precision: str = ""  # "" | "mixed_float16" | "mixed_bfloat16"
    jit_compile: bool = True
    seed: int = 0
    # run outputs
    keep_checkpoints: int = 3
    sample_images: int = 6


def paired_root(root: Path) -> Path:
    """The paired data of a run's data root: the root itself, or the embedded paired
    sample when the root is the embedded (unpaired) sample that `painter train` defaults to."""
    from painter.data import SAMPLE_ROOT
    from painter.data.paired import PAIRED_SAMPLE_ROOT

    if Path(root).resolve() == Path(SAMPLE_ROOT).resolve():
        return PAIRED_SAMPLE_ROOT
    return Path(root)


class Pix2PixFamily(Family):
    name = "pix2pix"
    config_class = Pix2PixConfig
    architecture_fields = ("image_size", "gen_filters", "dropout", "disc_filters", "disc_layers")
    generator_network = "generator"
    discriminator_network = "discriminator"
    takes_photos = True
    summary_fields = ("direction",)
    sample_grid_caption = ("Each row: an input, its translation by the generator and the "
                           "target, for the same fixed pairs every epoch.")

    def choices(self) -> dict[str, tuple]:
        from painter.data.paired import DIRECTIONS

        return {"direction": DIRECTIONS, "loss": ("bce", "lsgan")}

    def check(self, config) -> None:
        from painter.models.discriminators import check_patchgan_args
        from painter.models.pix2pix import check_unet_args

        check_unet_args(config.image_size, config.gen_filters, config.dropout)
        check_patchgan_args(config.image_size, config.disc_filters, config.disc_layers)
        if config.l1_weight < 0:
            raise ValueError(f"`l1_weight` must be >= 0. Received: l1_weight={config.l1_weight}")

    def build(self, config):
        from painter.train.pix2pix import build_pix2pix

        return build_pix2pix(config)

    def compile(self, model, config, steps_per_epoch: int, jit_compile: bool) -> None:
        from painter.train.pix2pix import compile_pix2pix

        compile_pix2pix(model, config, steps_per_epoch, jit_compile)

    def dataset(self, config, root: Path, seed: int, photos=None):
        from painter.backend import has_tensorflow

        options = dict(batch_size=config.batch_size, image_size=config.image_size,
                       direction=config.direction, augment=config.augment, seed=seed)
        if not has_tensorflow():
            from painter.data.arrays import paired_arrays

            return paired_arrays(paired_root(root), **options)
        from painter.data.paired import paired_dataset

        dataset, steps = paired_dataset(paired_root(root), **options)
        return dataset.repeat(), steps

    def sample_inputs(self, config, root: Path, model) -> np.ndarray:
        """The first `sample_images` pairs, (n, 2, s, s, 3) in [-1, 1]: input, target."""
        import itertools

        from painter.data.paired import iter_pairs

        pairs = itertools.islice(iter_pairs(paired_root(root), config.direction, config.image_size),
                                 max(1, config.sample_images))
        return np.stack([np.stack([a, b]) for _, a, b in pairs]).astype("float32") / 127.5 - 1.0

    def sample_grid(self, model, inputs: np.ndarray, generator=None
                    ) -> tuple[np.ndarray, int | None]:
        """A row per pair: input | output by the generator (or by `generator`) | target."""
        generator = generator if generator is not None else model.generator
        outputs = np.asarray(generator(inputs[:, 0], training=False))
        rows = np.stack([inputs[:, 0], outputs, inputs[:, 1]], axis=1)
        return rows.reshape((-1,) + rows.shape[2:]), 3

    def step_passes(self, config, executed: bool = False, separate: bool = False):
        # One generator pass; the discriminator on the real and the fake pair; forward +
        # backward. As executed, D's backward also runs for G's adversarial loss.
        if executed:
            return 3, 8
        return 3, 6

    def build_generator(self, config):
        from painter.models.pix2pix import unet_generator

        return unet_generator(config, name=self.generator_network)


FAMILY = Pix2PixFamily()
