"""The model-family registry: each family is one module and one line here.

    FAMILIES["cyclegan"].build(config)      # the training model
    family_of(config).generator_network     # "gen_G"

A family (`painter.families.base.Family`) knows its config dataclass, how to build and
compile its training model, its dataset, its start from the data, its sample grid and
which network generates the submission; `painter train`, `generate`, `paint`, `report`,
the Kaggle kernel and the benchmarks ask it. A new family is a module beside these
(its config dataclass and a `Family` subclass) plus its line below.
"""

from __future__ import annotations

from painter.errors import ConfigError
from painter.families import cut, cyclegan, noise_gan, pix2pix
from painter.families.base import Family

FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        cyclegan.FAMILY,
        noise_gan.FAMILY,
        cut.FAMILY,
        pix2pix.FAMILY,
    )
}


def get_family(name: str) -> Family:
    """The registered family called `name` (ConfigError naming the known ones if none)."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise ConfigError(f"unknown family {name!r} (known: {', '.join(FAMILIES)})") from None


def family_of(config) -> Family:
    """The family of a config (any family's config dataclass)."""
    return get_family(config.family)


__all__ = ["FAMILIES", "Family", "family_of", "get_family"]
