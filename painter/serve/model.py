"""What `painter serve` paints with: a run's generators or the pretrained stylizer, as
batched functions the model worker calls, and what the page says about them.

A run is served through its family (`painter.families`), never by its name: a family
that translates photos (`Family.takes_photos`) paints uploads with its generator, and
also the other way when it has a `reverse_network` (CycleGAN's gen_F) that the
checkpoint holds; a family that samples latents paints one image per seed.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Callable

import numpy as np

from painter.errors import CheckpointError, UsageError, first_line
from painter.serve.worker import Painter

STYLIZER_NAMES = ("stylizer", "teacher")
FORWARD, REVERSE, SAMPLE = "forward", "reverse", "sample"


@dataclasses.dataclass(frozen=True)
class Direction:
    """One way the model paints an upload: `route` is the worker's painter."""

    route: str
    label: str


@dataclasses.dataclass(frozen=True)
class ServedModel:
    """A loaded model, ready for the worker.

    Attributes:
        name: what the page calls it (the run directory's parent/name, or "stylizer").
        family: its family's name ("stylizer" for the pretrained stylizer).
        checkpoint: which checkpoint ("best, epoch 3, step 240"), "" for the stylizer.
        mifid: the MiFID tracked for that checkpoint, None when none was.
        painters: {route: batched uint8 function}: `FORWARD` (and `REVERSE`) for
            photos, `SAMPLE` (latents → images) for a latent model.
        directions: the photo directions the page offers, in order; empty for a latent
            model.
        latent_dim: a latent model's latent size, None for a translator.
        image_size: the size the network works at (its outputs come back at 256 px).
        detail: one more line about it (the stylizer's settings), or "".
    """

    name: str
    family: str
    checkpoint: str
    mifid: float | None
    painters: dict[str, Painter]
    directions: tuple[Direction, ...] = ()
    latent_dim: int | None = None
    image_size: int = 256
    detail: str = ""

    @property
    def takes_photos(self) -> bool:
        return self.latent_dim is None

    def latents(self, seed: int) -> np.ndarray:
        """The one latent of `seed`, (1, latent_dim): standard normal, the same stream
        `painter generate` draws from (its first image for this seed)."""
        rng = np.random.default_rng(seed)
        return rng.standard_normal(self.latent_dim).astype(np.float32)[None]

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "family": self.family,
            "checkpoint": self.checkpoint,
            "mifid": self.mifid,
            "kind": "photos" if self.takes_photos else "latents",
            "directions": [{"route": d.route, "label": d.label} for d in self.directions],
            "image_size": self.image_size,
            "detail": self.detail,
        }


def is_stylizer(model: str | os.PathLike) -> bool:
    """Whether `model` names the pretrained stylizer rather than a run directory."""
    return str(model) in STYLIZER_NAMES


def check_model(model: str | os.PathLike, checkpoint: str | None = None):
    """Fails early, before TensorFlow loads: UsageError for a model that is neither a run
    directory nor the stylizer, or a checkpoint given to the stylizer; WeightsError when
    the stylizer's weights are not fetched; CheckpointError for a run without that
    checkpoint."""
    if is_stylizer(model):
        if checkpoint is not None:
            raise UsageError("--checkpoint: the stylizer has none; it takes a run directory")
        from painter.pretrained import require_weights

        require_weights("stylizer")
        return
    run_dir = Path(model)
    if not run_dir.is_dir():
        raise UsageError(f"{run_dir}: neither `stylizer` (or `teacher`) nor a run directory")
    from painter.rundir import load_run_config
    from painter.submit.generate import default_checkpoint
    from painter.train.checkpoints import find_checkpoint

    load_run_config(run_dir)
    find_checkpoint(run_dir, checkpoint or default_checkpoint(run_dir))


def load_served_model(model: str | os.PathLike, checkpoint: str | None = None, *,
                      strength: float = 0.5, log: Callable[[str], None] = print
                      ) -> ServedModel:
    """Loads a run's generator(s) or the stylizer for serving.

    Args:
        model: a run directory, or "stylizer" / "teacher" (the pretrained stylizer that
            `painter paint stylizer` uses, with a random Monet's style per photo).
        checkpoint: a run's "best", "last" or a checkpoint path. Default: "best" when the
            run kept one, else "last".
        strength: the stylizer's, in [0, 1]. Default 0.5.
        log: where messages go.
    """
    from painter.inference import latent_sampler, photo_translator

    check_model(model, checkpoint)
    if is_stylizer(model):
        from painter.submit.paint import stylizer_model
        from painter.submit.zipwriter import SUBMISSION_SIZE

        details = []
        network = stylizer_model(strength=strength, log=details.append)
        for line in details:
            log(line)
        return ServedModel(
            name="stylizer", family="stylizer", checkpoint="", mifid=None,
            painters={FORWARD: photo_translator(network, SUBMISSION_SIZE)},
            directions=(Direction(FORWARD, "photo → painting"),),
            image_size=SUBMISSION_SIZE, detail="; ".join(details),
        )

    from painter.families import family_of
    from painter.submit.generate import default_checkpoint
    from painter.train.checkpoints import find_checkpoint, load_generator

    run_dir = Path(model)
    found = find_checkpoint(run_dir, checkpoint or default_checkpoint(run_dir))
    config, generator = load_generator(run_dir, checkpoint=str(found.path))
    family = family_of(config)
    mifid = found.metrics.get("mifid")
    where = f"{found.name}, epoch {found.epoch}, step {found.global_step}"
    log(f"{run_dir}: {config.family} checkpoint {where}")
    # The folder and its parent: a run is often just "run" (the demo's) or its config's name.
    name = "/".join(run_dir.resolve().parts[-2:])
    common = dict(name=name, family=config.family, checkpoint=where,
                  mifid=None if mifid is None else float(mifid), image_size=config.image_size)
    if not family.takes_photos:
        return ServedModel(painters={SAMPLE: latent_sampler(generator)},
                           latent_dim=int(generator.input_shape[-1]), **common)
    painters = {FORWARD: photo_translator(generator, config.image_size)}
    directions = [Direction(FORWARD, f"photo → painting ({family.generator_network})")]
    reverse = load_reverse_generator(run_dir, found, config)
    if reverse is not None:
        painters[REVERSE] = photo_translator(reverse, config.image_size)
        directions.append(Direction(REVERSE, f"painting → photo ({family.reverse_network})"))
    return ServedModel(painters=painters, directions=tuple(directions), **common)


def load_reverse_generator(run_dir: Path, found, config):
    """The family's `reverse_network` with the checkpoint's weights, or None when the
    family has none or the checkpoint does not hold it."""
    from painter.families import family_of
    from painter.train.checkpoints import check_compatible, dtype_policy, weight_shapes

    family = family_of(config)
    if family.reverse_network is None:
        return None
    manifest = check_compatible(found, config)
    entry = manifest.get("networks", {}).get(family.reverse_network)
    if entry is None:
        return None
    with dtype_policy(""):
        network = family.build_reverse_generator(config)
    if entry["weights"] != weight_shapes(network):
        raise CheckpointError(f"checkpoint {found.path}: its {family.reverse_network} does "
                              f"not fit {config.family}")
    file = found.path / entry["file"]
    try:
        network.load_weights(str(file))
    except Exception as e:  # noqa: BLE001 - h5py and Keras raise many kinds
        raise CheckpointError(f"{file}: cannot load ({first_line(e)})") from None
    return network
