"""The stages of a staged CycleGAN run (`CycleGANConfig.stages`), read from the config.

A run in stages warms up one direction with its discriminator, then the other, then trains
the joint objective, e.g. in TOML::

    stages = [{train = "G,D_Y", epochs = 2}, {train = "F,D_X", epochs = 2}, {train = "all"}]

`parse_stages` checks and reads them (TensorFlow-free, for `painter check`); the training
model follows them (`painter.train.cyclegan.StagePlan`).
"""

from __future__ import annotations

import dataclasses

STAGE_NETWORKS = {
    "G,D_Y": ("gen_G", "disc_Y"),
    "F,D_X": ("gen_F", "disc_X"),
    "all": ("gen_G", "gen_F", "disc_X", "disc_Y"),
}


@dataclasses.dataclass(frozen=True)
class Stage:
    """One stage of a staged CycleGAN run.

    Attributes:
        train: "G,D_Y" (photo→Monet and its discriminator: adversarial and identity losses
            only), "F,D_X" (the other way), or "all" (Zhu et al.'s joint objective).
        epochs: how long it lasts; None for the last stage, which lasts until the run ends.
    """

    train: str
    epochs: int | None

    @property
    def networks(self) -> tuple[str, ...]:
        """The networks (and so the optimizers) that train in this stage."""
        return STAGE_NETWORKS[self.train]


def parse_stages(stages) -> tuple[Stage, ...]:
    """The config's `stages` as `Stage`s; () for a run without stages.

    Each stage is a table with `train` ("G,D_Y", "F,D_X" or "all"; names in any order,
    "G,F,D_X,D_Y" is "all") and `epochs` (a positive integer). Every stage but the last
    needs `epochs`; the last lasts until the run ends (its `epochs`, if given, is no limit).

    Raises:
        ValueError: one line naming the stage and what is wrong with it.
    """
    parsed = []
    known = ", ".join(f'"{name}"' for name in STAGE_NETWORKS)
    aliases = {frozenset(name.split(",")): name for name in STAGE_NETWORKS}
    aliases[frozenset(("G", "F", "D_X", "D_Y"))] = "all"
    stages = tuple(stages)
    for number, stage in enumerate(stages, start=1):
        where = f"key 'stages': stage {number}"
        if not isinstance(stage, dict):
            raise ValueError(f'{where} must be a table such as {{train = "all", epochs = 2}}, '
                             f"got {stage!r}")
        unknown = sorted(set(stage) - {"train", "epochs"})
        if unknown:
            raise ValueError(f"{where} has unknown key {unknown[0]!r} (known: train, epochs)")
        train = stage.get("train")
        names = (frozenset(n.strip() for n in train.split(",") if n.strip())
                 if isinstance(train, str) else None)
        if names not in aliases:
            raise ValueError(f"{where}: train must be one of {known}, got {train!r}")
        epochs = stage.get("epochs")
        last = number == len(stages)
        if epochs is None and not last:
            raise ValueError(f"{where} ({train}) needs epochs (only the last stage lasts "
                             "until the run ends)")
        if epochs is not None and (not isinstance(epochs, int) or isinstance(epochs, bool)
                                   or epochs < 1):
            raise ValueError(f"{where} ({train}): epochs must be a positive integer, "
                             f"got {epochs!r}")
        parsed.append(Stage(aliases[names], None if last else epochs))
    return tuple(parsed)
