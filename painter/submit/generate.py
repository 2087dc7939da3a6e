"""`painter generate`: a trained run → a Kaggle `images.zip`.

A CycleGAN run translates photos with its `gen_G` (photo→Monet); a noise-GAN run draws
seeded latents. The count always lands in Kaggle's [7,000, 10,000]: with fewer photos the
rest are translations of test-time variants of them (flips, crops; see
`painter.submit.variants`), never byte-identical duplicates. Images go through
`ImageZipWriter`, which JPEG-encodes and writes on a background thread while the model
works on the next batch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from painter.errors import DataError, UsageError
from painter.io import check_output
from painter.submit.check import MAX_IMAGES, MIN_IMAGES
from painter.progress import ProgressBar, progress_bar
from painter.submit.variants import photo_variant, unique_stems, variant_name, variant_plan
from painter.submit.zipwriter import SUBMISSION_SIZE, ImageZipWriter

KAGGLE_ROOT = Path("/kaggle/input/gan-getting-started")
DEFAULT_NOISE_COUNT = 7_000
DEFAULT_BATCH = 32
# Every image gets at most this many extra tries when the writer drops byte-identical ones.
_ATTEMPTS_PER_IMAGE = 4


@dataclasses.dataclass(frozen=True)
class GenerateResult:
    """What a generate or baseline call wrote.

    Attributes:
        path: the zip.
        count: images in it.
        seconds: wall time of the writing, model included.
        inputs: photos read (0 for a noise GAN).
        variants: images made from variants of the photos (not the photos themselves).
        dropped_duplicates: images not written because their JPEG equalled an earlier one.
        checkpoint: the checkpoint used ("" for baselines).
        score: the MiFID result when scoring was asked for, else None.
    """

    path: Path
    count: int
    seconds: float
    inputs: int = 0
    variants: int = 0
    dropped_duplicates: int = 0
    checkpoint: str = ""
    score: Any = None

    @property
    def images_per_second(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0


def check_count(count: int | None) -> None:
    """UsageError unless `count` is None or in Kaggle's [7,000, 10,000]."""
    if count is not None and not MIN_IMAGES <= count <= MAX_IMAGES:
        raise UsageError(
            f"--count {count}: Kaggle takes {MIN_IMAGES:,} to {MAX_IMAGES:,} images"
        )


def target_count(n_photos: int, count: int | None) -> int:
    """The number of images to write: `count`, or the photos clamped to [7,000, 10,000]."""
    check_count(count)
    if count is not None:
        return count
    return min(max(n_photos, MIN_IMAGES), MAX_IMAGES)


# -- photos ---------------------------------------------------------------------------


def default_data_root() -> Path:
    """Kaggle's data root when running on Kaggle, else the embedded sample's."""
    from painter.data import SAMPLE_ROOT

    return KAGGLE_ROOT if KAGGLE_ROOT.is_dir() else Path(SAMPLE_ROOT)


def photo_source_of(root: str | os.PathLike) -> Any:
    """The photo source of a Kaggle-layout root (`photo_tfrec/` or `photo_jpg/`)."""
    return (str(root), "photo")


def as_source(value: str | os.PathLike | None, domain: str) -> Any:
    """What the user named, as a `painter.data` source: a Kaggle-layout root (a folder
    holding `{domain}_tfrec/` or `{domain}_jpg/` and no files of its own) becomes
    `(root, domain)`; anything else is passed on as it is. None stays None."""
    if value is None:
        return None
    from painter.data.sources import kaggle_domains

    path = Path(value)
    if path.is_dir() and domain in kaggle_domains(path):
        if not any(p.is_file() and not p.name.startswith(".") for p in path.iterdir()):
            return (str(path), domain)
    return str(value)


def read_photos(source: Any) -> list:
    """Every photo of `source` as `EncodedImage`s (the encoded bytes, not decoded).

    Encoded JPEGs are ~15× smaller than decoded images, so even Kaggle's 7,038 photos stay
    in memory comfortably, and the variant passes re-read them without touching the disk.

    Raises:
        DataError: the source holds no image.
    """
    from painter.data import iter_encoded_images

    photos = list(iter_encoded_images(source))
    if not photos:
        raise DataError(f"{_describe(source)}: no images")
    return photos


def _describe(source: Any) -> str:
    if isinstance(source, tuple) and len(source) == 2:
        return f"{source[0]} ({source[1]})"
    return str(source)


def photo_inputs(
    photos: Sequence, *, seed: int = 0, image_size: int = SUBMISSION_SIZE
) -> Iterator[tuple[str, np.ndarray, int]]:
    """(entry name, uint8 image, variant) for every photo, then its variants, endlessly."""
    from painter.data import decode_rgb

    names = unique_stems([photo.name for photo in photos])
    used: set[str] = set()
    decoded: dict[int, np.ndarray] = {}
    for index, variant in variant_plan(len(photos)):
        name = variant_name(names[index], variant)
        while name in used:  # a photo named like another's variant ("a" and "a_v001")
            name = name[: -len(".jpg")] + "_.jpg"
        used.add(name)
        if variant == 0 or index not in decoded:
            photo = photos[index]
            image = decode_rgb(photo.data, photo.origin, image_size=image_size)
            if len(photos) * image.nbytes <= 256 * 2**20:  # keep small sets decoded
                decoded[index] = image
        else:
            image = decoded[index]
        yield name, photo_variant(image, variant, seed=seed, key=index), variant


# -- the writing loop ---------------------------------------------------------------------


def fill_zip(
    writer: ImageZipWriter,
    inputs: Iterator[tuple[str, np.ndarray, int]],
    count: int,
    transform: Callable[[np.ndarray], np.ndarray],
    *,
    batch: int = DEFAULT_BATCH,
    progress: ProgressBar | None = None,
) -> int:
    """Takes inputs in batches, maps them with `transform`, adds them until `count` are written.

    `transform` maps a stacked batch of inputs to uint8 (or [-1, 1] float) 256×256×3
    images. When the writer drops byte-identical images, further inputs are drawn.

    Returns:
        How many written images came from variants (variant > 0).

    Raises:
        DataError: the inputs ran out, or kept giving duplicates, before `count` images.
    """
    if batch < 1:
        raise UsageError(f"--batch {batch}: must be at least 1")
    variant_names: set[str] = set()
    drawn = 0
    max_drawn = _ATTEMPTS_PER_IMAGE * count
    while True:
        writer.flush()
        missing = count - writer.written
        if missing <= 0:
            break
        if drawn >= max_drawn:
            raise DataError(
                f"could not make {count:,} distinct images: {len(writer.skipped_duplicates):,} "
                f"came out byte-identical to earlier ones"
            )
        chunk_source = itertools.islice(inputs, missing)
        took = 0
        for chunk in iter(lambda: list(itertools.islice(chunk_source, batch)), []):
            names = [name for name, _, _ in chunk]
            images = transform(np.stack([array for _, array, _ in chunk]))
            writer.add_batch(names, images)
            variant_names.update(name for name, _, variant in chunk if variant > 0)
            took += len(chunk)
            if progress is not None:
                progress.update(writer.written)
        drawn += took
        if took == 0:
            raise DataError(f"ran out of inputs after {writer.written:,} of {count:,} images")
    if progress is not None:
        progress.update(writer.written)
    # Variants that were dropped as duplicates are not in the zip.
    return len(variant_names - set(writer.skipped_duplicates))


def write_submission(
    out: str | os.PathLike,
    inputs: Iterator[tuple[str, np.ndarray, int]],
    count: int,
    transform: Callable[[np.ndarray], np.ndarray],
    *,
    batch: int = DEFAULT_BATCH,
    quality: int = 95,
    force: bool = False,
    n_inputs: int = 0,
    checkpoint: str = "",
    label: str = "generate",
) -> GenerateResult:
    """Writes `count` transformed inputs into the zip `out` (atomically), with progress."""
    start = time.perf_counter()
    progress = progress_bar(count, label)
    with sigterm_as_interrupt(), ImageZipWriter(out, quality=quality, force=force) as writer:
        variants = fill_zip(writer, inputs, count, transform, batch=batch, progress=progress)
        written = writer.written
        dropped = len(writer.skipped_duplicates)
    progress.close()
    return GenerateResult(
        path=Path(out),
        count=written,
        seconds=time.perf_counter() - start,
        inputs=n_inputs,
        variants=variants,
        dropped_duplicates=dropped,
        checkpoint=checkpoint,
    )


@contextlib.contextmanager
def sigterm_as_interrupt():
    """Turns SIGTERM (`kill`, a job scheduler's stop) into KeyboardInterrupt while writing,
    so the partial zip is removed as on Ctrl-C. (SIGKILL cannot be caught: then only a
    hidden `.images.zip.*.tmp` is left beside the output, never a partial `images.zip`.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def latent_inputs(latent_dim: int, seed: int = 0) -> Iterator[tuple[str, np.ndarray, int]]:
    """(`00000.jpg`, latent, 0), … : standard-normal latents from one seeded stream."""
    rng = np.random.default_rng(seed)
    for index in itertools.count():
        yield f"{index:05d}.jpg", rng.standard_normal(latent_dim).astype(np.float32), 0


def default_checkpoint(run_dir: str | os.PathLike) -> str:
    """"best" when the run kept a best checkpoint (MiFID tracking), else "last"."""
    from painter.train.checkpoints import list_checkpoints

    names = {checkpoint.name for checkpoint in list_checkpoints(run_dir)}
    return "best" if "best" in names else "last"


def generate(
    run_dir: str | os.PathLike,
    out: str | os.PathLike,
    *,
    photos: Any = None,
    count: int | None = None,
    quality: int = 95,
    batch: int = DEFAULT_BATCH,
    seed: int = 0,
    force: bool = False,
    checkpoint: str | None = None,
    real: Any = None,
    score: bool = False,
    log: Callable[[str], None] = print,
) -> GenerateResult:
    """Writes a Kaggle `images.zip` from a trained run.

    Args:
        run_dir: a run directory written by `painter train`.
        out: the zip to write.
        photos: for a family that translates photos: the photos to translate (any source `painter.data` reads).
            Default: the photos of the data the run was trained on, as recorded in the run;
            on Kaggle all 7,038.
        count: images to write, in [7,000, 10,000]. Default: every photo (clamped to that
            range, topped up with variants) or 7,000 latents for a noise GAN.
        quality: JPEG quality. Default 95.
        batch: images per model call. Default 32.
        seed: seeds the latents and the variant crops. Default 0.
        force: replace an existing `out`. Default False.
        checkpoint: "last", "best" or a checkpoint path. Default: "best" when the run has
            one, else "last".
        real: the Monets to score against when `score`. Default: the run's Monets.
        score: compute the MiFID of the result right after. Default False.
        log: where messages go. Default print.

    Returns:
        A GenerateResult.
    """
    from painter.families import family_of
    from painter.inference import latent_sampler, photo_translator
    from painter.rundir import load_run_config
    from painter.train import checkpoints as train_checkpoints

    # Everything that can be wrong with the options, the run or the photos is checked
    # before the model is built, and before anything is written.
    check_count(count)
    if not 1 <= quality <= 95:
        raise UsageError(f"--quality {quality}: must be in [1, 95]")
    if batch < 1:
        raise UsageError(f"--batch {batch}: must be at least 1")
    check_output(out, force)
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UsageError(f"{run_dir}: no such run directory")
    if score:
        from painter.pretrained import require_weights

        require_weights("fid", "--score")
    config = load_run_config(run_dir)
    if checkpoint is None:
        checkpoint = default_checkpoint(run_dir)
        if checkpoint == "best":
            log("using the run's best checkpoint (lowest tracked MiFID); --checkpoint last for the last")
    found = train_checkpoints.find_checkpoint(run_dir, checkpoint)
    takes_photos = family_of(config).takes_photos
    if takes_photos:
        if photos is None:
            photos = run_photo_source(run_dir)
        photo_list = read_photos(photos)
        n = target_count(len(photo_list), count)
    else:
        if photos is not None:
            raise UsageError(f"--photos: a {config.family} run samples latents, it takes no photos")
        n = count if count is not None else DEFAULT_NOISE_COUNT

    config, model = train_checkpoints.load_generator(run_dir, checkpoint=str(found.path))
    weights = " (its moving average)" if found.generator_weights == "ema" else ""
    log(f"loaded {model.name}{weights} from {found.path} (epoch {found.epoch}, step "
        f"{found.global_step})")
    if takes_photos:
        _log_plan(log, len(photo_list), n, _describe(photos))
        inputs = photo_inputs(photo_list, seed=seed)
        transform = photo_translator(model, config.image_size)
        n_inputs = len(photo_list)
    else:
        log(f"sampling {n:,} images from seeded latents (seed {seed})")
        inputs = latent_inputs(model.input_shape[-1], seed)
        transform = latent_sampler(model)
        n_inputs = 0

    result = write_submission(
        out, inputs, n, transform, batch=batch, quality=quality, force=force,
        n_inputs=n_inputs, checkpoint=found.name,
    )
    log(
        f"wrote {result.count:,} images to {result.path} in {result.seconds:.1f}s "
        f"({result.images_per_second:.1f} images/s)"
    )
    if score:
        result = dataclasses.replace(result, score=score_zip(result.path, real or run_monet_source(run_dir), log))
    return result


def _log_plan(log, n_photos: int, n: int, what: str) -> None:
    if n > n_photos:
        log(
            f"{n_photos:,} photos in {what}: writing {n:,} images, {n - n_photos:,} of them "
            f"from flipped/cropped variants (see painter.submit.variants)"
        )
    elif n < n_photos:
        log(f"{n_photos:,} photos in {what}: writing the first {n:,}")
    else:
        log(f"{n_photos:,} photos in {what}")


def _run_data_root(run_dir: Path) -> Path | None:
    from painter.rundir import run_data_root

    return run_data_root(run_dir)


def run_photo_source(run_dir: str | os.PathLike) -> Any:
    """The photos of the data `run_dir` was trained on, or Kaggle's / the sample's."""
    root = _run_data_root(Path(run_dir))
    if root is None or not root.is_dir():
        root = default_data_root()
    return photo_source_of(root)


def run_monet_source(run_dir: str | os.PathLike) -> Any:
    """The Monets of the data `run_dir` was trained on, or Kaggle's / the sample's."""
    root = _run_data_root(Path(run_dir))
    if root is None or not root.is_dir():
        root = default_data_root()
    return (str(root), "monet")


def score_zip(path: str | os.PathLike, real: Any, log: Callable[[str], None] = print):
    """The MiFID of the zip against `real` (painter.metrics), logged in one line."""
    from painter.metrics import compute_mifid

    result = compute_mifid(str(path), real, progress=lambda label, total: progress_bar(total, label))
    log(f"MiFID {result.mifid:.2f} (FID {result.fid:.2f}, memorization distance {result.distance:.4f})")
    return result
