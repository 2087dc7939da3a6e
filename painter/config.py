"""Configuration: one frozen dataclass per model family, loaded from `configs/*.toml`.

A config file is flat TOML. `family` picks the dataclass; every other key must be one of
its fields, with a value of the field's type. Unknown keys are a ConfigError naming the key.
The resolved config is written beside each run's checkpoints with non-defaults marked.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any, Union

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from painter.errors import ConfigError

CONFIG_DIR = Path(__file__).parent / "configs"


@dataclasses.dataclass(frozen=True)
class CycleGANConfig:
    """Photo→Monet (any A→B) CycleGAN after Zhu et al. 2017.

    Names map to the paper: `gen_G` is photo→Monet (G: X→Y), `gen_F` Monet→photo
    (F: Y→X), `disc_X` judges photos, `disc_Y` judges Monets.
    """

    family: str = "cyclegan"
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
    # losses
    loss: str = "lsgan"  # "lsgan" | "bce" | "hinge"
    cycle_weight: float = 10.0  # λ
    identity_weight: float = 0.5  # × λ
    perceptual_weight: float = 0.0  # VGG19 features; 0 disables
    pool_size: int = 50
    diffaugment: str = "color,translation,cutout"  # "" disables
    # optimisation
    learning_rate: float = 2e-4
    beta_1: float = 0.5
    batch_size: int = 4  # global, over all replicas
    epochs: int = 20
    decay_epochs: int = 10  # the last `decay_epochs` decay linearly to 0
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


Config = Union[CycleGANConfig, NoiseGANConfig]
FAMILIES: dict[str, type] = {"cyclegan": CycleGANConfig, "noise_gan": NoiseGANConfig}


def resolve_config_path(name: str | Path) -> Path:
    """A config path, or the name of a shipped config (`quick`, `cyclegan.toml`)."""
    path = Path(name)
    if path.is_file():
        return path
    shipped = CONFIG_DIR / (path.name if path.suffix == ".toml" else f"{path.name}.toml")
    if shipped.is_file():
        return shipped
    known = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.toml")))
    raise ConfigError(f"{name}: no such config file (shipped configs: {known})")


def config_from_dict(values: dict[str, Any], source: str = "config") -> Config:
    """Builds the family's dataclass from `values`, checking every key and type."""
    values = dict(values)
    family = values.get("family", "cyclegan")
    if family not in FAMILIES:
        raise ConfigError(f"{source}: unknown family {family!r} (known: {', '.join(FAMILIES)})")
    cls = FAMILIES[family]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in values.items():
        if key not in fields:
            raise ConfigError(f"{source}: unknown key {key!r} for family {family!r}")
        want = type(fields[key].default)
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            values[key] = float(value)
        elif not isinstance(value, want) or (want is int and isinstance(value, bool)):
            raise ConfigError(
                f"{source}: key {key!r} must be {want.__name__}, got {value!r}"
            )
    config = cls(**values)
    _check_choices(config, source)
    return config


def _check_choices(config: Config, source: str) -> None:
    """Names that pick a builder, loss or policy must be known; the registries decide."""
    from painter.models.diffaugment import AUGMENTATIONS
    from painter.models.generators import GENERATORS
    from painter.models.losses import LOSSES

    choices = {
        "generator": tuple(GENERATORS),
        "loss": tuple(LOSSES),
        "upsample": ("transpose", "resize"),
        "output": ("tanh", "residual"),
        "mixed_precision": ("", "mixed_float16", "mixed_bfloat16"),
        "disc_norm": ("instance", "none"),
        "tone_curve_init": ("identity", "match"),
        "color_transfer": ("none", "lab"),
        "base": ("photo", "stylizer"),
        "base_order": ("stylize_first", "color_first"),
        "base_style": ("random", "mean"),
    }
    for key, known in choices.items():
        value = getattr(config, key, None)
        if value is not None and value not in known:
            raise ConfigError(
                f"{source}: key {key!r} must be one of {', '.join(map(repr, known))}, got {value!r}"
            )
    if config.family == "cyclegan":
        from painter.models.generators import check_generator_config

        try:
            check_generator_config(config)
        except ValueError as error:
            raise ConfigError(f"{source}: {error}") from None
    for name in (n.strip() for n in config.diffaugment.split(",") if n.strip()):
        if name not in AUGMENTATIONS:
            raise ConfigError(
                f"{source}: key 'diffaugment' has unknown transform {name!r} "
                f"(known: {', '.join(AUGMENTATIONS)})"
            )
    for key in ("image_size", "batch_size", "epochs"):
        if getattr(config, key) < 1:
            raise ConfigError(f"{source}: key {key!r} must be at least 1, got {getattr(config, key)}")


def load_config(path: str | Path, **overrides: Any) -> Config:
    """Loads a TOML config (path or shipped name), then applies non-None `overrides`."""
    path = resolve_config_path(path)
    try:
        with open(path, "rb") as f:
            values = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None
    given = {k: v for k, v in overrides.items() if v is not None}
    values.update(given)
    source = str(path) + (f" (overridden: {', '.join(given)})" if given else "")
    return config_from_dict(values, source=source)


def parse_override(text: str) -> tuple[str, Any]:
    """`KEY=VALUE` → (key, value), VALUE read as a TOML value (`1e-3`, `true`, `"resize"`);
    a bare word that is no TOML value is taken as a string (`upsample=resize`)."""
    key, sep, raw = text.partition("=")
    key, raw = key.strip(), raw.strip()
    if not sep or not key or not raw:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. batch_size=8")
    try:
        return key, tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return key, raw


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def config_to_toml(config: Config) -> str:
    """The resolved config as TOML; values that differ from the defaults are marked."""
    defaults = type(config)()
    lines = [f"# resolved {type(config).__name__}; '# changed' marks non-defaults"]
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        mark = "" if value == getattr(defaults, field.name) else "  # changed"
        lines.append(f"{field.name} = {_toml_value(value)}{mark}")
    return "\n".join(lines) + "\n"
