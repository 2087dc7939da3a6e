"""Checkpoints of a training run: one folder per checkpoint, written atomically.

    checkpoints/step_00001200/
        manifest.json          family, architecture, weight shapes, epoch, step, metrics,
                               the plan fitted to a time budget (if any), which generator
                               weights generate with (`generator_weights`)
        gen_G.weights.h5 …     one Keras weights file per network (`save_weights`)
        gen_G.ema.weights.h5   the generator's moving average, when the run keeps one
                               (`painter.train.ema`)
        optimizers.npz         every optimizer variable and the seed-generator states

Why not a TensorFlow checkpoint: these files are plain HDF5 and NumPy, readable without
TensorFlow (h5py, numpy) and loadable by Keras on any backend; the generate step loads
`gen_G.weights.h5` alone into a freshly built generator; and the manifest lets a resume
refuse a checkpoint of another model or shape with one clear line before touching any
weights. The image pools are not saved (Zhu et al. do not save theirs): a resumed run
refills them within `pool_size / batch` steps.

A checkpoint is filled under a temporary name beside its final one and renamed when
complete, so a crash or `kill -9` never leaves a half-written one; leftovers of an
interrupted write start with "." and are ignored (and cleared on resume).

`load_generator(run_dir, checkpoint)` builds the network a run generates with and loads
a checkpoint's weights into it (`painter generate`, `painter paint`): the moving average's
where the manifest's `generator_weights` is "ema" (a run with `ema_decay`: every numbered
checkpoint, and `best` when the average scored better), else the generator's own.
`load_weights` loads the networks alone, for a run restarted from another's checkpoint.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from painter.errors import CheckpointError, first_line
from painter.io import atomic_dir
from painter.rundir import CHECKPOINTS_DIR, load_run_config
from painter.train.ema import EMA_SUFFIX, generator_ema

MANIFEST = "manifest.json"
OPTIMIZERS = "optimizers.npz"
FORMAT = "painter-checkpoint"
FORMAT_VERSION = 1
_STEP_NAME = re.compile(r"^step_(\d+)$")



@dataclasses.dataclass(frozen=True)
class CheckpointInfo:
    """What `list_checkpoints` reports about one checkpoint.

    Attributes:
        path: the checkpoint folder.
        name: its folder name (`step_00001200`, or a fixed name such as `best`).
        family: the family's name (a key of `painter.families.FAMILIES`).
        epoch: epochs completed when it was written.
        step_in_epoch: steps done into the next epoch (0 at an epoch's end; > 0 when a
            time budget or Ctrl-C stopped mid-epoch).
        global_step: optimizer steps since the start of the run.
        steps_per_epoch: the run's steps per epoch when it was written (0 if unknown).
        created: local time it was written, ISO 8601.
        metrics: the metrics of its last epoch (plus what callbacks added, e.g. MiFID).
        plan: what a time budget fitted, {} without one: `planned_epochs` and, per
            optimizer, the learning-rate schedule's `learning_rate` (of its constant part),
            `constant_steps` and `decay_steps` (`ConstantThenDecay.lengths`).
        generator_weights: "ema" when generation uses the generator's moving average
            (the checkpoint holds one and it is the better or the only choice), else
            "raw" (also for checkpoints written before there was a choice).
    """

    path: Path
    name: str
    family: str
    epoch: int
    step_in_epoch: int
    global_step: int
    created: str
    metrics: dict
    steps_per_epoch: int = 0
    plan: dict = dataclasses.field(default_factory=dict)
    generator_weights: str = "raw"

    @property
    def numbered(self) -> bool:
        """True for the rolling `step_…` checkpoints, False for named ones (`best`)."""
        return bool(_STEP_NAME.match(self.name))


def architecture(config) -> dict[str, Any]:
    """The config values that decide the networks' shapes (its family's
    `architecture_fields`): a checkpoint loads only into a model built from the same."""
    from painter.families import family_of

    return {name: getattr(config, name) for name in family_of(config).architecture_fields}


def weight_shapes(network) -> list[list]:
    """[[variable path, shape], …] of every variable of a network, in its order."""
    return [[v.path, list(v.shape)] for v in network.weights]


def _read_manifest(path: Path) -> dict:
    manifest_path = path / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path}: not a checkpoint (no {MANIFEST})") from None
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{manifest_path}: unreadable manifest ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CheckpointError(f"{manifest_path}: not a painter checkpoint manifest")
    return manifest


def _info(path: Path, manifest: dict) -> CheckpointInfo:
    return CheckpointInfo(
        path=path,
        name=path.name,
        family=manifest.get("family", "?"),
        epoch=int(manifest.get("epoch", 0)),
        step_in_epoch=int(manifest.get("step_in_epoch", 0)),
        global_step=int(manifest.get("global_step", 0)),
        created=manifest.get("created", ""),
        metrics=dict(manifest.get("metrics", {})),
        steps_per_epoch=int(manifest.get("steps_per_epoch", 0)),
        plan=dict(manifest.get("plan") or {}),
        generator_weights=str(manifest.get("generator_weights", "raw")),
    )


def read_checkpoint(path: str | os.PathLike) -> CheckpointInfo:
    """The `CheckpointInfo` of one checkpoint folder (CheckpointError if it is none)."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"{path}: no such checkpoint")
    return _info(path, _read_manifest(path))


def list_checkpoints(run_dir: str | os.PathLike) -> list[CheckpointInfo]:
    """Every complete checkpoint of a run, numbered ones by step, then named ones (`best`).

    Folders left by an interrupted write (names starting with ".") and folders without a
    readable manifest are skipped.
    """
    folder = Path(run_dir) / CHECKPOINTS_DIR
    if not folder.is_dir():
        return []
    found = []
    for child in folder.iterdir():
        if child.name.startswith(".") or not child.is_dir():
            continue
        try:
            found.append(_info(child, _read_manifest(child)))
        except CheckpointError:
            continue
    return sorted(found, key=lambda c: (not c.numbered, c.global_step, c.name))


def find_checkpoint(run_dir: str | os.PathLike, which: str = "last") -> CheckpointInfo:
    """The checkpoint `which` names: "last" (highest step), "best", another folder name
    under `checkpoints/`, or the path of a checkpoint folder.

    Raises:
        CheckpointError: none found, with what exists.
    """
    run_dir = Path(run_dir)
    checkpoints = list_checkpoints(run_dir)
    if which == "last":
        numbered = [c for c in checkpoints if c.numbered]
        if not numbered:
            raise CheckpointError(
                f"{run_dir}: no checkpoint (looked in {run_dir / CHECKPOINTS_DIR})"
            )
        return numbered[-1]
    for checkpoint in checkpoints:
        if checkpoint.name == which:
            return checkpoint
    path = Path(which)
    if path.is_dir():
        return read_checkpoint(path)
    names = ", ".join(c.name for c in checkpoints) or "none"
    raise CheckpointError(f"{run_dir}: no checkpoint {which!r} (there: {names})")


def _optimizer_arrays(optimizers: dict, seed_generators: dict) -> dict[str, np.ndarray]:
    arrays = {}
    for name, optimizer in optimizers.items():
        for index, variable in enumerate(optimizer.variables):
            arrays[f"optimizer/{name}/{index}"] = np.asarray(variable.numpy())
    for name, generator in seed_generators.items():
        arrays[f"seed/{name}"] = np.asarray(generator.state.numpy())
    return arrays


def save_checkpoint(
    run_dir: str | os.PathLike,
    model,
    config,
    *,
    epoch: int,
    step_in_epoch: int,
    global_step: int,
    metrics: dict | None = None,
    name: str | None = None,
    keep: int = 0,
    plan: dict | None = None,
    generator_weights: str | None = None,
) -> Path:
    """Writes a checkpoint of `model` (a CycleGAN or NoiseGAN) atomically.

    Args:
        run_dir: the run directory; the checkpoint goes under `checkpoints/`.
        model: the training model: its `networks`, `optimizers` and seed generators.
        config: the run's config (family and architecture go in the manifest).
        epoch, step_in_epoch, global_step: where training stands (`CheckpointInfo`).
        metrics: values recorded in the manifest (last epoch's losses, MiFID…).
        name: a fixed name (e.g. "best"), replaced if it exists; default None: a numbered
            `step_{global_step:08d}` checkpoint.
        keep: with numbered checkpoints, keep only the last `keep` (0 keeps all). Named
            ones are never pruned.
        plan: what a time budget fitted (`CheckpointInfo.plan`), recorded as given.
        generator_weights: "ema" or "raw": which weights generate with. Default None:
            "ema" when the model keeps a moving average of its generator, else "raw".

    Returns:
        The checkpoint folder.
    """
    folder = Path(run_dir) / CHECKPOINTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or f"step_{global_step:08d}")
    manifest = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "family": config.family,
        "architecture": architecture(config),
        "networks": {
            key: {"file": f"{key}.weights.h5", "weights": weight_shapes(network)}
            for key, network in model.networks.items()
        },
        "epoch": int(epoch),
        "step_in_epoch": int(step_in_epoch),
        "global_step": int(global_step),
        "steps_per_epoch": int(getattr(config, "steps_per_epoch", 0)),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "metrics": {k: float(v) for k, v in (metrics or {}).items()},
    }
    if plan:
        manifest["plan"] = plan
    ema = generator_ema(model)
    if ema is not None:
        from painter.families import family_of

        key = family_of(config).generator_network
        manifest["ema"] = {"network": key, "file": _ema_file(key), "decay": ema.decay}
    if generator_weights not in (None, "ema", "raw") or (generator_weights == "ema" and ema is None):
        raise ValueError(f"`generator_weights` must be 'ema' (with a moving average) or 'raw'. "
                         f"Received: generator_weights={generator_weights!r}")
    manifest["generator_weights"] = generator_weights or ("ema" if ema is not None else "raw")
    with atomic_dir(path, force=True) as temp:
        for key, network in model.networks.items():
            network.save_weights(str(temp / f"{key}.weights.h5"))
        if ema is not None:
            ema.network.save_weights(str(temp / manifest["ema"]["file"]))
        np.savez(temp / OPTIMIZERS, **_optimizer_arrays(model.optimizers, seed_generators(model)))
        (temp / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    if name is None and keep > 0:
        numbered = [c for c in list_checkpoints(run_dir) if c.numbered]
        for old in numbered[:-keep]:
            shutil.rmtree(old.path, ignore_errors=True)
    return path


def _ema_file(network: str) -> str:
    return f"{network}{EMA_SUFFIX}.weights.h5"


def _load_file(network, file: Path) -> None:
    try:
        network.load_weights(str(file))
    except Exception as e:  # noqa: BLE001 - h5py and Keras raise many kinds
        raise CheckpointError(f"{file}: cannot load ({first_line(e)})") from None


def _generator_file(checkpoint: CheckpointInfo, manifest: dict, network: str,
                    weights: str | None = None) -> tuple[Path, str]:
    """(the weights file of `network` that generation uses, "ema" or "raw"): `weights`, or
    by default the manifest's `generator_weights`."""
    weights = weights or manifest.get("generator_weights", "raw")
    if weights == "ema":
        entry = manifest.get("ema")
        if not entry or entry.get("network") != network:
            raise CheckpointError(f"checkpoint {checkpoint.path} holds no moving average of {network}")
        return checkpoint.path / entry["file"], "ema"
    if weights != "raw":
        raise CheckpointError(f"generator weights must be 'ema' or 'raw', got {weights!r}")
    return checkpoint.path / manifest["networks"][network]["file"], "raw"


def seed_generators(model) -> dict:
    """The model's own seed generators (augmentation, latents, CUT's patch positions and
    flips, pools), by attribute path."""
    found = {}
    for attribute in ("augment_seed", "latent_seed", "patch_seed"):
        generator = getattr(model, attribute, None)
        if generator is not None:
            found[attribute] = generator
    for attribute in ("pool_X", "pool_Y"):
        pool = getattr(model, attribute, None)
        if pool is not None:
            found[f"{attribute}.seed_generator"] = pool.seed_generator
    return found


def check_compatible(checkpoint: CheckpointInfo, config, model=None) -> dict:
    """Raises CheckpointError (one line) unless the checkpoint fits `config` (and `model`).

    Compares family, architecture fields and, given a model, every weight shape.
    Returns the manifest.
    """
    manifest = _read_manifest(checkpoint.path)
    family = manifest.get("family")
    # A field added after the checkpoint was written reads as its default, which is what
    # that checkpoint was built with.
    theirs = {**architecture(type(config)()), **manifest.get("architecture", {})}
    ours = architecture(config)
    if family != config.family:
        raise CheckpointError(
            f"checkpoint {checkpoint.path} holds a {family} model; "
            f"the config builds {config.family}"
        )
    if theirs != ours:
        differing = ", ".join(
            f"{key}={theirs.get(key)!r} there, {ours.get(key)!r} in the config"
            for key in ours
            if theirs.get(key) != ours.get(key)
        )
        raise CheckpointError(
            f"checkpoint {checkpoint.path} is of another model shape: {differing}"
        )
    if model is not None:
        for key, network in model.networks.items():
            saved = manifest.get("networks", {}).get(key, {}).get("weights")
            if saved is None:
                raise CheckpointError(f"checkpoint {checkpoint.path} has no network {key!r}")
            current = weight_shapes(network)
            if saved != current:
                saved_map = {path: tuple(shape) for path, shape in saved}
                current_map = {path: tuple(shape) for path, shape in current}
                differing = [p for p in current_map if saved_map.get(p) != current_map[p]]
                differing += sorted(set(saved_map) - set(current_map))
                first = differing[0]
                raise CheckpointError(
                    f"checkpoint {checkpoint.path} does not fit this model: {key} weight "
                    f"{first} is {saved_map.get(first)} there, {current_map.get(first)} here"
                )
    return manifest


def restore_checkpoint(checkpoint: CheckpointInfo, model, config) -> None:
    """Loads weights, optimizer state and seed states into a compiled model.

    Raises:
        CheckpointError: another model or shape, or unreadable files (one line).
    """
    manifest = check_compatible(checkpoint, config, model)
    for key, network in model.networks.items():
        _load_file(network, checkpoint.path / manifest["networks"][key]["file"])
    ema = generator_ema(model)
    if ema is not None:
        entry = manifest.get("ema")
        if entry:
            _load_file(ema.network, checkpoint.path / entry["file"])
        else:
            # A checkpoint of a run without an average (or from before averages were
            # kept): the average starts here, from the generator.
            ema.reset()
    try:
        with np.load(checkpoint.path / OPTIMIZERS) as arrays:
            stored = {key: arrays[key] for key in arrays.files}
    except (OSError, ValueError) as e:
        raise CheckpointError(
            f"{checkpoint.path / OPTIMIZERS}: unreadable ({first_line(e)})"
        ) from None
    for name, optimizer in model.optimizers.items():
        for index, variable in enumerate(optimizer.variables):
            key = f"optimizer/{name}/{index}"
            if key not in stored or tuple(stored[key].shape) != tuple(variable.shape):
                raise CheckpointError(
                    f"{checkpoint.path / OPTIMIZERS}: optimizer state of {name} does not fit "
                    f"(variable {index}, {variable.path})"
                )
            variable.assign(stored[key])
    for name, generator in seed_generators(model).items():
        if f"seed/{name}" in stored:
            generator.state.assign(stored[f"seed/{name}"])


def load_weights(checkpoint: CheckpointInfo, model, config) -> str:
    """Loads a checkpoint's network weights alone into a compiled model: no optimizer
    state, seeds or moving average (a run restarted from another run's checkpoint). The
    generator gets the weights generation would use, its moving average where the
    manifest says so (`CheckpointInfo.generator_weights`).

    Returns:
        "ema" or "raw": the generator weights loaded.

    Raises:
        CheckpointError: another family, architecture or weight shape, or unreadable
            files (one line).
    """
    from painter.families import family_of

    manifest = check_compatible(checkpoint, config, model)
    generator = family_of(config).generator_network
    loaded = "raw"
    for key, network in model.networks.items():
        if key == generator:
            file, loaded = _generator_file(checkpoint, manifest, key)
        else:
            file = checkpoint.path / manifest["networks"][key]["file"]
        _load_file(network, file)
    return loaded


def clear_partial_writes(run_dir: str | os.PathLike) -> None:
    """Removes leftovers of checkpoint writes that a crash interrupted (".step_….tmp")."""
    folder = Path(run_dir) / CHECKPOINTS_DIR
    if folder.is_dir():
        for child in folder.iterdir():
            if child.name.startswith(".") and child.name.endswith(".tmp"):
                shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink()



@contextlib.contextmanager
def dtype_policy(name: str):
    """Builds models under `name` ("" = float32), then restores the global policy."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name or "float32")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def load_generator(run_dir: str | os.PathLike, checkpoint: str = "last",
                   weights: str | None = None):
    """The generator of a run, with a checkpoint's weights, for generating images.

    Args:
        run_dir: a run directory written by `train`.
        checkpoint: "last" (default), "best", or a checkpoint folder's path.
        weights: "ema" (the generator's moving average) or "raw" (the generator's own).
            Default None: the checkpoint's `generator_weights`.

    Returns:
        (config, model): the family's submission generator (`Family.generator_network`:
        gen_G, photo → Monet, for a CycleGAN run; the noise generator, latents → images,
        for a noise-GAN run), built in float32.

    Raises:
        CheckpointError: no such run or checkpoint, or one of another model (one line).
    """
    from painter.families import family_of

    config = load_run_config(run_dir)
    found = find_checkpoint(run_dir, checkpoint)
    manifest = check_compatible(found, config)
    family = family_of(config)
    network = family.generator_network
    with dtype_policy(""):
        model = family.build_generator(config)
    entry = manifest["networks"].get(network)
    if entry is None or entry["weights"] != weight_shapes(model):
        raise CheckpointError(
            f"checkpoint {found.path}: its {network} does not fit {config.family}"
        )
    file, _ = _generator_file(found, manifest, network, weights)
    _load_file(model, file)
    return config, model
