"""`Family`: what painter needs to know about one model family, in one object.

Training (`painter.train.run`), generation (`painter.submit`), the report, the Kaggle
kernel and the benchmarks never ask "which family is this?"; they ask the family, found
by the config's `family` key in the registry (`painter.families.FAMILIES`). A family
module defines its config dataclass and a `Family` subclass; this module and the family
modules import no TensorFlow at module level (configs are read by TensorFlow-free code:
`painter report`, `painter check`), so whatever builds or runs networks is imported
inside the methods.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, ClassVar

import numpy as np

Log = Callable[[str], None]

# How a config's `decay` field shapes the learning rate's decay to 0
# (`painter.train.schedules.ConstantThenDecay`); "constant" decays not at all.
SCHEDULE_DECAYS = ("constant", "linear", "cosine")


class Family:
    """One model family: its config, its networks, its data and its generator.

    Class attributes (set by each family):
        name: the config's `family` value.
        config_class: the frozen dataclass of its configs (flat TOML keys = its fields).
        architecture_fields: config fields that decide the networks' variables and input
            shape; a checkpoint loads only into a model built from the same values.
        generator_network: the network (a `networks` key of the training model) that
            generates the submission.
        discriminator_network: the network that judges the generator's images.
        takes_photos: whether that generator translates photos (else it samples latents).
        reverse_network: the network that translates the other way (target → photo), or
            None: CycleGAN's gen_F, which `painter serve` offers as a second direction.
        summary_fields: config fields the report names beside the family in its title.
        sample_grid_caption: what the report says of every epoch's sample grid.
    """

    name: ClassVar[str]
    config_class: ClassVar[type]
    architecture_fields: ClassVar[tuple[str, ...]]
    generator_network: ClassVar[str]
    discriminator_network: ClassVar[str]
    takes_photos: ClassVar[bool]
    reverse_network: ClassVar[str | None] = None
    summary_fields: ClassVar[tuple[str, ...]] = ()
    sample_grid_caption: ClassVar[str] = ""

    # ---- the config ----------------------------------------------------------------

    def choices(self) -> dict[str, tuple]:
        """{config key: its allowed values} for keys that pick a builder, loss or mode."""
        return {}

    def check(self, config) -> None:
        """Raises ValueError for settings that cannot go together (`load_config` reports
        them as a config error before anything is built)."""

    # ---- training --------------------------------------------------------------------

    def build(self, config):
        """The training model (a `keras.Model` with its own `train_step`, `networks` and
        `optimizers`), uncompiled. Called inside the strategy's scope and dtype policy."""
        raise NotImplementedError

    def compile(self, model, config, steps_per_epoch: int, jit_compile: bool) -> None:
        """Compiles `model` with the family's optimizers (inside the strategy's scope)."""
        raise NotImplementedError

    def dataset(self, config, root: Path, seed: int, photos=None):
        """(endless training data, batches in one pass over the data): a repeated
        `tf.data.Dataset`, or without TensorFlow a `keras.utils.PyDataset` of numpy batches
        (`painter.data.arrays`).

        Args:
            config: the run's config.
            root: the Kaggle-layout data root.
            seed: the shuffle and augmentation seed.
            photos: image files that replace the root's photos (those a photo split
                leaves to training), for families that read photos.
        """
        raise NotImplementedError

    def start_from_data(self, model, config, root: Path, tracker=None, photos=None,
                        log: Log = print):
        """Sets a fresh model's data-derived start before the first step (none by
        default). `tracker` scores a generator on held-out photos (to choose among
        starts), `photos` are the training photos. Returns the config, with what was
        chosen written into it (it goes to the run's config.toml)."""
        return config

    def sample_inputs(self, config, root: Path, model) -> np.ndarray:
        """What every epoch's sample grid shows the generator (fixed for the run)."""
        raise NotImplementedError

    def sample_grid(self, model, inputs: np.ndarray, generator=None
                    ) -> tuple[np.ndarray, int | None]:
        """(images in [-1, 1], columns) of one epoch's sample grid (`painter.viz`), drawn
        by `generator` (default None: the model's own; a run with a moving average passes
        `output_generator(model)`)."""
        raise NotImplementedError

    def generator(self, model):
        """The submission's generator inside a training model."""
        return model.networks[self.generator_network]

    def ema_decay(self, config) -> float:
        """The decay of the moving average kept of the generator's weights
        (`painter.train.ema`), from the config's `ema_decay` where its dataclass has that
        field; 0: none. A family gets the average by adding the field.

        Raises:
            ValueError: a value other than 0 or one in (0, 1) (`load_config` reports it
                as a config error).
        """
        decay = float(getattr(config, "ema_decay", 0.0))
        if not (decay == 0.0 or 0.0 < decay < 1.0):
            raise ValueError(f"key 'ema_decay' must be 0 (off) or between 0 and 1, got {decay!r}")
        return decay

    def output_generator(self, model):
        """The generator whose images a run shows and scores (sample grids, MiFID
        tracking): the moving average of the generator when the run keeps one, else the
        generator."""
        ema = getattr(model, "generator_ema", None)
        return ema.network if ema is not None else self.generator(model)

    def step_passes(self, config, executed: bool = False, separate: bool = False
                    ) -> tuple[float, float]:
        """Network passes of one training step per example, as (generator, discriminator)
        forward-pass equivalents: the model FLOPs of the step's maths (a backward pass
        counts twice its forward), or with `executed` what the step as written runs
        (`separate`: with separate gradient tapes where the family has that option).
        For `scripts/bench_train.py`'s FLOP counts."""
        raise NotImplementedError

    # ---- generation ------------------------------------------------------------------

    def build_generator(self, config):
        """The submission's generator alone, as `load_generator` fills it from a
        checkpoint (named `generator_network`)."""
        raise NotImplementedError

    def build_reverse_generator(self, config):
        """The `reverse_network` alone, as a checkpoint fills it (families that have one)."""
        raise NotImplementedError
