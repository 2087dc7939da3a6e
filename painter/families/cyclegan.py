"""The CycleGAN family (Zhu et al. 2017): photo → Monet with gen_G, Monet → photo with
gen_F, a PatchGAN for each domain (`painter.train.cyclegan.CycleGAN`).

Its config is `CycleGANConfig`; its submission generator is gen_G, which translates
photos. A residual generator can start from the data (`CycleGANConfig.starts_from_data`):
a matched tone curve, a Lab colour transfer, or the pretrained stylizer, whose strength is
chosen on the tracking photos before the first step. What it shares with the other
translation families (data, start, sample grid, generator options) is
`painter.families.translation`.
"""

from __future__ import annotations

import dataclasses

from painter.families.stages import parse_stages
from painter.families.translation import TranslationConfig, TranslationFamily


@dataclasses.dataclass(frozen=True)
class CycleGANConfig(TranslationConfig):
    """Photo→Monet (any A→B) CycleGAN after Zhu et al. 2017.

    Names map to the paper: `gen_G` is photo→Monet (G: X→Y), `gen_F` Monet→photo
    (F: Y→X), `disc_X` judges photos, `disc_Y` judges Monets. The generator, discriminator,
    optimisation and tracking fields are `TranslationConfig`'s.
    """

    family: str = "cyclegan"
    # losses
    cycle_weight: float = 10.0  # λ
    identity_weight: float = 0.5  # × λ
    perceptual_weight: float = 0.0  # of the perceptual loss on the cycle; 0 disables
    # its feature network: "vgg19" (ImageNet weights, which you provide) or "stylizer" (the
    # pretrained stylizer's MobileNet-v2 encoder; `painter weights fetch stylizer`)
    perceptual_network: str = "vgg19"
    # training in stages (`parse_stages`): () trains all four networks throughout; else
    # e.g. ({train = "G,D_Y", epochs = 2}, {train = "F,D_X", epochs = 2}, {train = "all"})
    stages: tuple = ()


class CycleGANFamily(TranslationFamily):
    name = "cyclegan"
    config_class = CycleGANConfig
    architecture_fields = (
        "image_size", "generator", "gen_filters", "residual_blocks", "upsample", "output",
        "residual_scale", "tone_curve", "color_transfer", "base", "base_order", "disc_filters",
        "disc_layers", "disc_norm", "spectral_norm",
    )
    summary_fields = ("generator",)
    reverse_network = "gen_F"

    def choices(self) -> dict[str, tuple]:
        from painter.models.perceptual import PERCEPTUAL_NETWORKS

        return {**super().choices(), "perceptual_network": tuple(PERCEPTUAL_NETWORKS)}

    def check(self, config) -> None:
        super().check(config)
        parse_stages(config.stages)

    def build(self, config):
        from painter.train.cyclegan import build_cyclegan

        return build_cyclegan(config)

    def build_reverse_generator(self, config):
        from painter.models.generators import build_generator

        return build_generator(config, name=self.reverse_network)

    def compile(self, model, config, steps_per_epoch: int, jit_compile: bool) -> None:
        from painter.train.cyclegan import compile_cyclegan

        compile_cyclegan(model, config, steps_per_epoch, jit_compile)

    def step_passes(self, config, executed: bool = False, separate: bool = False):
        # Six generator passes (two translations, two cycles, two identities) and the
        # discriminators on real, fake and (with a pool) pooled fakes; forward + backward.
        d_images = 3 if config.pool_size else 2
        if executed:
            return (20 if separate else 18), 8 * d_images
        return 3 * 6, 3 * 2 * d_images


FAMILY = CycleGANFamily()
