"""What the photo → Monet translation families share: the config of a translating
generator and a PatchGAN (`TranslationConfig`) and the family behaviour around them
(`TranslationFamily`): unpaired photo/Monet data, the start from the data, the sample
grid of photos over their translations, and gen_G as the submission's generator.

CycleGAN (`painter.families.cyclegan`) and CUT (`painter.families.cut`) subclass both;
their gen_G is the same network (`painter.models.generators.build_generator`), so every
generator option works the same in each.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from painter.families.base import Family, Log


@dataclasses.dataclass(frozen=True)
class TranslationConfig:
    """The fields of every photo→Monet translation family (subclasses set `family` and
    add their losses' fields).

    `gen_G` is photo→Monet; the discriminator `disc_Y` judges Monets.
    """

    family: str = ""
    # data
    image_size: int = 256
    augment: bool = True  # random jitter (resize to 286, crop back) and horizontal flip
    # generator
    generator: str = "resnet"  # "resnet" | "unet"
    gen_filters: int = 64  # ngf
    residual_blocks: int = 9  # ResNet only: 9 at 256 px, 6 at 128 px
    upsample: str = "transpose"  # "transpose" | "resize"
    output: str = "tanh"  # "tanh" | "residual"
    residual_scale: int = 0  # 0: generator at full size; else its working size (e.g. 128)
    tone_curve: int = 0  # residual only: segments of a learned per-channel curve; 0: none
    tone_curve_init: str = "identity"  # "identity" | "match" (histogram match to the Monets)
    color_transfer: str = "none"  # residual only: "none" | "lab" (per-image Lab mean/std onto the Monets')
    # gen_G's base (residual only): "photo", or "stylizer": the pretrained arbitrary style
    # network's painting of the photo, with its style moved toward a Monet's
    # (painter.models.generators, "The stylizer base")
    base: str = "photo"  # "photo" | "stylizer"
    base_order: str = "stylize_first"  # with color_transfer: "stylize_first" | "color_first"
    base_strength: float = 0.0  # initial strength; 0: the best of base_strengths, measured at start
    base_strengths: str = "0.25,0.5,0.75"  # tried on the tracking photos when base_strength = 0
    base_style: str = "random"  # "random" (a Monet's style per photo) | "mean" (the Monets' mean)
    base_trainable: bool = False  # train the transformer too (strength and offset always train)
    base_lr_multiplier: float = 1.0  # the base's learning rate / the generator's
    # discriminator
    disc_filters: int = 64  # ndf
    disc_layers: int = 3  # 3 strided convs: the 70×70 PatchGAN
    disc_norm: str = "instance"  # "instance" | "none"; spectral_norm drops it
    spectral_norm: bool = False
    # adversarial loss and what the discriminators see
    loss: str = "lsgan"  # "lsgan" | "bce" | "hinge"
    pool_size: int = 50
    diffaugment: str = "color,translation,cutout"  # "" disables
    # optimisation
    learning_rate: float = 2e-4
    beta_1: float = 0.5
    batch_size: int = 4  # global, over all replicas
    epochs: int = 20
    decay_epochs: int = 10  # the last `decay_epochs` decay to 0, as `decay` says
    decay: str = "linear"  # "linear" (Zhu et al.) | "cosine" | "constant" (no decay)
    # the generator's exponential moving average (painter.train.ema), e.g. 0.999; 0: none.
    # Sample grids, MiFID tracking and generate use it.
    ema_decay: float = 0.0
    steps_per_epoch: int = 0  # 0: one pass over all photos
    mixed_precision: str = ""  # "" | "mixed_float16" | "mixed_bfloat16"
    jit_compile: bool = True
    seed: int = 0
    # run outputs
    keep_checkpoints: int = 3
    sample_images: int = 6
    # MiFID tracking during training
    track_mifid: bool = False
    track_every: int = 1
    track_photos: int = 250
    # photos held out of training and tracking for a final local score (the last N by
    # name; painter.train.tracking); 0 holds none out
    score_photos: int = 0

    @property
    def starts_from_data(self) -> bool:
        """Whether a fresh run sets part of its generators from the data before training
        (`painter.train.cyclegan.match_from_data`): a matched tone curve, a Lab colour
        transfer, or the stylizer base (its Monet styles)."""
        return (bool(self.tone_curve and self.tone_curve_init == "match")
                or self.color_transfer != "none" or self.base != "photo")


class TranslationFamily(Family):
    """A family whose `gen_G` translates photos to Monets against a PatchGAN `disc_Y`.

    Subclasses set `name`, `config_class`, `architecture_fields` and write `build`,
    `compile` and `step_passes`.
    """

    generator_network = "gen_G"
    discriminator_network = "disc_Y"
    takes_photos = True
    sample_grid_caption = "Each grid: the same fixed photos above their translations by gen_G (photo→Monet)."

    def choices(self) -> dict[str, tuple]:
        from painter.models.discriminators import DISC_NORMS
        from painter.models.generators import GENERATORS, OUTPUT_MODES, UPSAMPLE_MODES
        from painter.models.losses import LOSSES

        return {
            "generator": tuple(GENERATORS),
            "loss": tuple(LOSSES),
            "upsample": UPSAMPLE_MODES,
            "output": OUTPUT_MODES,
            "disc_norm": DISC_NORMS,
            "tone_curve_init": ("identity", "match"),
            "color_transfer": ("none", "lab"),
            "base": ("photo", "stylizer"),
            "base_order": ("stylize_first", "color_first"),
            "base_style": ("random", "mean"),
        }

    def check(self, config) -> None:
        from painter.models.generators import check_generator_config

        check_generator_config(config)

    def dataset(self, config, root: Path, seed: int, photos=None):
        from painter.backend import has_tensorflow

        sources = (photos if photos is not None else (root, "photo"), (root, "monet"))
        options = dict(batch_size=config.batch_size, image_size=config.image_size,
                       augment=config.augment, seed=seed)
        if not has_tensorflow():
            from painter.data.arrays import unpaired_arrays

            return unpaired_arrays(*sources, **options)
        from painter.data import unpaired_dataset

        dataset = unpaired_dataset(*sources, **options)
        return dataset.repeat(), int(dataset.cardinality().numpy())

    def start_from_data(self, model, config, root: Path, tracker=None, photos=None,
                        log: Log = print):
        """The tone curve or Lab transfer from training photos (never held-out ones;
        `painter.train.cyclegan.match_from_data`), then a stylizer base's strength,
        measured with `tracker` on the tracking photos (`start_stylizer_base`)."""
        if not config.starts_from_data:
            return config
        from painter.metrics.features import decoded_images
        from painter.train.cyclegan import match_from_data

        if photos is not None:
            from painter.metrics.features import decode_photos

            # Every k-th training photo: a spread of the whole set, not its first names.
            files = list(photos)
            photo_images = (decode_photos([f], config.image_size)[0]
                            for f in files[:: max(1, len(files) // 1000)])
        else:
            photo_images = decoded_images((root, "photo"))
        match_from_data(model, config, photo_images, decoded_images((root, "monet")), log=log)
        if config.base == "stylizer":
            from painter.models.generators import start_stylizer_base

            score = (lambda g: tracker.score(g, config.image_size)["mifid"]) if tracker else None
            strength = start_stylizer_base(model.gen_G, config, decoded_images((root, "monet")),
                                           score=score, log=log)
            config = dataclasses.replace(config, base_strength=strength)
        return config

    def sample_inputs(self, config, root: Path, model) -> np.ndarray:
        """The first `sample_images` photos of the root (in `photo_dataset`'s order)."""
        from painter.data.arrays import source_images

        return source_images((root, "photo"), max(1, config.sample_images), config.image_size)

    def sample_grid(self, model, inputs: np.ndarray, generator=None
                    ) -> tuple[np.ndarray, int | None]:
        """The photos above their translations by gen_G (or by `generator`)."""
        generator = generator if generator is not None else model.gen_G
        outputs = np.asarray(generator(inputs, training=False))
        return np.concatenate([inputs, outputs]), len(inputs)

    def build_generator(self, config):
        from painter.models.generators import build_generator

        return build_generator(config, name=self.generator_network)
