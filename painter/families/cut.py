"""The CUT family (contrastive unpaired translation, Park et al. 2020): photo → Monet with
one generator gen_G, one PatchGAN disc_Y and the PatchNCE projection head
(`painter.train.cut.CUT`).

CUT and FastCUT are one family with two shipped configs (`configs/cut.toml`,
`configs/fastcut.toml`): FastCUT is `lambda_nce = 10`, `nce_identity = false`,
`flip_equivariance = true`. gen_G is the translation families' generator
(`painter.families.translation`) with every option of CycleGAN's gen_G; its encoder
features must come from the ResNet generator.
"""

from __future__ import annotations

import dataclasses

from painter.families.translation import TranslationConfig, TranslationFamily


@dataclasses.dataclass(frozen=True)
class CUTConfig(TranslationConfig):
    """CUT / FastCUT after the authors' `cut_model.py` (defaults: CUT).

    The generator, discriminator, optimisation and tracking fields are
    `TranslationConfig`'s; the authors train without an image pool or DiffAugment.
    """

    family: str = "cut"
    pool_size: int = 0
    diffaugment: str = ""
    # losses
    lambda_gan: float = 1.0  # λ_GAN
    lambda_nce: float = 1.0  # λ_NCE (FastCUT: 10)
    # PatchNCE(y, G(y)) on the Monets too, averaged with PatchNCE(x, G(x)) (FastCUT: false)
    nce_identity: bool = True
    # flip the inputs on a coin toss per step, undone on G(x)'s features (FastCUT: true)
    flip_equivariance: bool = False
    nce_patches: int = 256  # positions sampled per encoder layer
    nce_temperature: float = 0.07  # τ
    head_units: int = 256  # the projection head's width


class CUTFamily(TranslationFamily):
    name = "cut"
    config_class = CUTConfig
    architecture_fields = (
        "image_size", "generator", "gen_filters", "residual_blocks", "upsample", "output",
        "residual_scale", "tone_curve", "color_transfer", "base", "base_order", "disc_filters",
        "disc_layers", "disc_norm", "spectral_norm", "head_units",
    )

    def choices(self) -> dict[str, tuple]:
        # PatchNCE reads the ResNet generator's encoder layers.
        return {**super().choices(), "generator": ("resnet",)}

    def check(self, config) -> None:
        super().check(config)
        if config.lambda_gan < 0 or config.lambda_nce < 0:
            raise ValueError(
                "`lambda_gan` and `lambda_nce` must be >= 0. Received: "
                f"lambda_gan={config.lambda_gan}, lambda_nce={config.lambda_nce}"
            )
        if config.nce_patches < 1 or config.nce_temperature <= 0 or config.head_units < 1:
            raise ValueError(
                "`nce_patches` and `head_units` must be >= 1 and `nce_temperature` > 0. "
                f"Received: nce_patches={config.nce_patches}, head_units={config.head_units}, "
                f"nce_temperature={config.nce_temperature}"
            )

    def build(self, config):
        from painter.train.cut import build_cut

        return build_cut(config)

    def compile(self, model, config, steps_per_epoch: int, jit_compile: bool) -> None:
        from painter.train.cut import compile_cut

        compile_cut(model, config, steps_per_epoch, jit_compile)

    def step_passes(self, config, executed: bool = False, separate: bool = False):
        # G on the photos (and the Monets with the identity NCE) and its encoder on those
        # outputs (the queries), forward + backward; with flip equivariance the encoder
        # on the inputs too (the keys), forward only. The encoder is `encoder_share` of a
        # generator pass. One discriminator on real and fake (and pooled fakes); as
        # written, its activation gradient is taken for its loss and again for G's.
        # Separate gradients (float16) add only the head's small backward pass.
        images = 2 if config.nce_identity else 1
        d_images = 3 if config.pool_size else 2
        share = encoder_share(config)
        generator = images * (1 + share)
        keys = images * share if config.flip_equivariance else 0.0
        if executed:
            return 3 * generator + keys, 4 * d_images
        return 3 * generator + keys, 3 * d_images


def encoder_share(config) -> float:
    """The share of a generator pass's FLOPs that its PatchNCE encoder features take
    (up to the middle residual block), counted from the layers."""
    from painter.models.flops import model_flops
    from painter.models.generators import build_generator, encoder_features

    generator = build_generator(config, name="gen_G")
    return model_flops(encoder_features(generator)) / model_flops(generator)


FAMILY = CUTFamily()
