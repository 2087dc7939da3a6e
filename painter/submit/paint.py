"""`painter paint`: any set of photos → a folder of paintings, one JPEG per photo.

The painter is a trained run's gen_G (the checkpoint `painter generate` would use) or the
pretrained stylizer (`stylizer_model`: the arbitrary style network of
`painter.models.stylizer`, with each photo's own style moved `strength` of the way toward
a Monet's; `painter baseline stylize` writes a submission with the same model). Both
translate through `photo_translator`, as `painter generate` does: photos are read at
256×256 and written at 256×256, named after their input (stem + `.jpg`).

Nothing the user has is replaced without `force`: the images are written into a hidden
folder beside the output and moved into place only when all are done, so an interrupted
run leaves no partial output.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from painter.errors import UsageError
from painter.submit.generate import (
    DEFAULT_BATCH,
    _describe,
    as_source,
    default_checkpoint,
    default_data_root,
    read_photos,
    sigterm_as_interrupt,
)
from painter.progress import progress_bar
from painter.submit.zipwriter import SUBMISSION_SIZE

STYLIZER = "stylizer"
STYLE_CHOICES = ("random", "mean")


@dataclasses.dataclass(frozen=True)
class PaintResult:
    """What `paint` wrote.

    Attributes:
        out: the folder.
        count: images written.
        seconds: wall time, model included.
        painter: what painted them ("stylizer …" or the checkpoint used).
    """

    out: Path
    count: int
    seconds: float
    painter: str

    @property
    def images_per_second(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0


# ---- the stylizer as a painter -----------------------------------------------------------


def default_monets() -> Any:
    """Kaggle's Monets when running on Kaggle, else the embedded sample's."""
    return (str(default_data_root()), "monet")


def _as_source(value: Any, domain: str) -> Any:
    """A path the user named as a `painter.data` source (a Kaggle root becomes
    `(root, domain)`); anything else (a `(root, domain)` tuple, a list) as it is."""
    return as_source(value, domain) if isinstance(value, (str, os.PathLike)) else value


def style_images(style: str, monets: Any = None) -> tuple[str, Any]:
    """(choice, source of the style images) for a `--style` value.

    "random" and "mean" take the Monets of `monets` (default: `default_monets()`); a file
    or folder of images is the style source itself, a random one of them per photo.

    Raises:
        UsageError: a `--style` that is none of these.
    """
    if style in STYLE_CHOICES:
        if monets is None:
            return style, default_monets()
        return style, _as_source(monets, "monet")
    path = Path(style)
    if path.exists():
        return "random", as_source(str(path), "monet")
    raise UsageError(f"--style {style}: not random, mean, nor an image file or folder")


def check_strength(strength: float) -> None:
    if not 0.0 <= strength <= 1.0:
        raise UsageError(
            f"--strength {strength}: must be in [0, 1] (0: the photo's own style, 1: the Monet's)"
        )


def stylizer_model(*, strength: float = 0.5, style: str = "random", monets: Any = None,
                   seed: int = 0, lab: bool = False, lab_first: bool = False,
                   weights: Any = "stylizer", log: Callable[[str], None] = print):
    """The stylize baseline as a ready Keras model ([-1, 1] 256-px photos → paintings).

    Args:
        strength: how far each photo's own style vector moves toward the Monet's, in
            [0, 1]. Default 0.5.
        style: "random" (a Monet per photo, chosen by the photo's content and `seed`:
            `painter.models.layers.StyleMix`), "mean" (the Monets' mean style), or an
            image file or folder to take the styles from. Default "random".
        monets: the Monets for "random" and "mean" (any source `painter.data` reads).
            Default: Kaggle's when on Kaggle, else the embedded sample's.
        seed: shifts which Monet each photo gets. Default 0.
        lab: pass the paintings through the Lab colour transfer onto the style images'
            Lab statistics (`LabColorTransfer`). Default False.
        lab_first: with `lab`, the colour transfer comes before the stylizer instead
            (`base_order = "color_first"`). Default False.
        weights: the stylizer weights. Default "stylizer" (the cache).
        log: where messages go. Default print.
    """
    from painter.data.color import lab_statistics
    from painter.metrics.features import decoded_images
    from painter.models.generators import (
        set_stylizer_weights,
        style_vectors,
        stylizer_painter,
        stylizer_parts,
    )

    check_strength(strength)
    choice, source = style_images(style, monets)
    images = np.stack(list(decoded_images(source)))
    model = stylizer_painter(strength=strength, choice=choice, seed=seed,
                             color_transfer="lab" if lab else "none",
                             order="color_first" if lab_first else "stylize_first",
                             image_size=SUBMISSION_SIZE)
    set_stylizer_weights(model, weights)
    stylizer_parts(model)[2].set_styles(style_vectors(model, images))
    if lab:
        mean, std, _ = lab_statistics(images)
        model.get_layer(f"{model.name}_color_transfer").set_target(mean, std)
    log(f"stylizer: strength {strength:g}, {'the mean of ' if choice == 'mean' else 'a random one of '}"
        f"{len(images)} style images ({_describe(source)})"
        + ("" if not lab else ", after Lab colour transfer" if lab_first else ", then Lab colour transfer"))
    return model


# ---- writing a folder ---------------------------------------------------------------------


def output_names(photos: list) -> list[str]:
    """`<stem>.jpg` of every photo, made unique (a second `a` becomes `a_2.jpg`)."""
    from painter.submit.variants import unique_stems

    return unique_stems([photo.name for photo in photos])


def check_folder_output(out: str | os.PathLike, names: list[str], force: bool = False) -> Path:
    """UsageError when `out` is a file, or holds one of `names` and `force` is False."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} exists and is not a folder")
    existing = [name for name in names if (out / name).exists()] if out.is_dir() else []
    if existing and not force:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise UsageError(f"{out / existing[0]} exists{more}; pass --force to replace")
    return out


def write_folder(out: str | os.PathLike, photos: list, transform: Callable[[np.ndarray], np.ndarray],
                 *, batch: int = DEFAULT_BATCH, quality: int = 95, force: bool = False,
                 label: str = "paint") -> int:
    """Writes `transform` of every photo as `out/<stem>.jpg`, all or nothing.

    The images go into a hidden temporary folder beside `out` and are moved into `out`
    when all are written; an interruption removes them. Files of `out` that are not
    among the outputs are left alone.

    Args:
        out: the output folder (created if missing).
        photos: `EncodedImage`s.
        transform: stacked uint8 256×256 photos → uint8 images.
        batch: photos per call. Default 32.
        quality: JPEG quality. Default 95.
        force: replace output files that exist. Default False: UsageError naming the
            first one, before anything is written.
        label: the progress bar's label.

    Returns:
        The number of images written.
    """
    from painter.data import decode_rgb, encode_jpeg

    names = output_names(photos)
    out = check_folder_output(out, names, force)
    parent = out.parent if out.parent != Path("") else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=parent))
    progress = progress_bar(len(photos), label)
    try:
        with sigterm_as_interrupt():
            for start in range(0, len(photos), batch):
                chunk = photos[start : start + batch]
                images = transform(np.stack([
                    decode_rgb(p.data, p.origin, image_size=SUBMISSION_SIZE) for p in chunk
                ]))
                for name, image in zip(names[start : start + batch], images):
                    (temp / name).write_bytes(encode_jpeg(np.asarray(image, np.uint8), quality=quality))
                progress.update(start + len(chunk))
        progress.close()
        if not out.exists():
            os.chmod(temp, 0o777 & ~_umask())
            os.replace(temp, out)
        else:
            for name in names:
                os.replace(temp / name, out / name)
            shutil.rmtree(temp)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return len(names)


def _umask() -> int:
    from painter.io import current_umask

    return current_umask()


# ---- the front door ------------------------------------------------------------------------


def paint(
    model: str | os.PathLike,
    src: Any,
    out: str | os.PathLike,
    *,
    checkpoint: str | None = None,
    strength: float = 0.5,
    style: str = "random",
    monets: Any = None,
    seed: int = 0,
    lab: bool = False,
    batch: int = DEFAULT_BATCH,
    quality: int = 95,
    force: bool = False,
    log: Callable[[str], None] = print,
) -> PaintResult:
    """Paints every photo of `src` into the folder `out`, one `<stem>.jpg` each.

    Args:
        model: a run directory (its gen_G) or "stylizer".
        src: the photos: a folder, a zip, TFRecords, one image file, or a Kaggle root.
        out: the output folder.
        checkpoint: a run's "best", "last" or a checkpoint path. Default: "best" when the
            run kept one, else "last".
        strength, style, monets, seed, lab: the stylizer's (`stylizer_model`).
        batch: photos per model call. Default 32.
        quality: JPEG quality. Default 95.
        force: replace existing output files. Default False.
        log: where messages go. Default print.
    """
    from painter.inference import photo_translator
    from painter.rundir import load_run_config
    from painter.train import checkpoints as train_checkpoints

    if not 1 <= quality <= 95:
        raise UsageError(f"--quality {quality}: must be in [1, 95]")
    if batch < 1:
        raise UsageError(f"--batch {batch}: must be at least 1")
    out = Path(out)
    is_stylizer = str(model) == STYLIZER
    if is_stylizer:
        check_strength(strength)
        style_images(style, monets)  # a bad --style fails before anything is read
        if checkpoint is not None:
            raise UsageError("--checkpoint: the stylizer has none; it takes a run directory")
        from painter.pretrained import require_weights

        require_weights("stylizer")
    else:
        run_dir = Path(model)
        if not run_dir.is_dir():
            raise UsageError(f"{run_dir}: neither `stylizer` nor a run directory")
        config = load_run_config(run_dir)
        from painter.families import family_of

        if not family_of(config).takes_photos:
            raise UsageError(f"{run_dir}: a {config.family} run samples latents; it paints no photos")
        checkpoint = checkpoint or default_checkpoint(run_dir)
        found = train_checkpoints.find_checkpoint(run_dir, checkpoint)
    source = _as_source(src, "photo")
    photos = read_photos(source)
    check_folder_output(out, output_names(photos), force)
    log(f"{len(photos):,} photos in {_describe(source)}")
    started = time.perf_counter()
    if is_stylizer:
        translator_model = stylizer_model(strength=strength, style=style, monets=monets, seed=seed,
                                          lab=lab, log=log)
        what, image_size = f"stylizer (strength {strength:g}, style {style})", SUBMISSION_SIZE
    else:
        config, translator_model = train_checkpoints.load_generator(run_dir, checkpoint=str(found.path))
        what, image_size = f"{run_dir} checkpoint {found.name} (epoch {found.epoch})", config.image_size
        log(f"painting with {what}")
    count = write_folder(out, photos, photo_translator(translator_model, image_size), batch=batch,
                         quality=quality, force=force)
    result = PaintResult(out=out, count=count, seconds=time.perf_counter() - started, painter=what)
    log(f"wrote {count:,} paintings to {out} in {result.seconds:.1f}s "
        f"({result.images_per_second:.1f} images/s)")
    return result
