"""MiFID tracking during training, and the photo split that keeps it honest.

A GAN's losses say little about what Kaggle scores, so a CycleGAN run with
`track_mifid = true` translates a fixed set of held-out photos every `track_every` epochs,
scores them against the Monets with Kaggle's MiFID (`painter.metrics`), adds `mifid`,
`fid`, `distance` and `track_seconds` to that epoch's row of history.csv, and keeps
`checkpoints/best/`: the checkpoint of the lowest MiFID so far, its score in the
manifest's `metrics.mifid` (`painter generate` uses it by default).

The photo split (`split_photos`) sorts the photos by name (Kaggle's names are content
hashes, so a name range is a random sample, and the same one on every machine):

    scoring   the last `score_photos` names: never trained on, never tracked; for a final
              local score that no choice made during training has seen
    tracking  the `track_photos` names before them: scored during training
    training  the rest: the only photos the training pipeline reads

The split is written to `RUN_DIR/photo_split.json` (every name of each part). Photos are
held out by file, so the photos must be image files: a root with `photo_tfrec/` only
cannot be split (Kaggle's root has `photo_jpg/` too, which is used).

Scores here match `painter score` of the same images as a submission: the translations
go through `painter.submit.generate.photo_translator` (what `painter generate` runs)
and a JPEG round trip at the submission's quality, and the Monets' features come from
the same content-keyed cache.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from painter.errors import UsageError, WeightsError

PHOTO_SPLIT_JSON = "photo_split.json"
SPLIT_RULE = (
    "photos sorted by name; scoring = the last score_photos, tracking = the track_photos "
    "before them, training = the rest"
)
# Columns a tracked epoch adds to history.csv (and to its checkpoint's metrics).
TRACKED_COLUMNS = ("mifid", "fid", "distance", "track_seconds")

# uint8 images (n, H, W, 3) → features (n, d). The FID Inception's pool_3 by default.
FeatureExtractor = Callable[[np.ndarray], np.ndarray]


# ---- the photo split --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PhotoSplit:
    """A deterministic three-way split of a photo folder (module docstring).

    Attributes:
        source: the folder the photos were listed from.
        training, tracking, scoring: the image files of each part, sorted by name.
    """

    source: str
    training: tuple[Path, ...]
    tracking: tuple[Path, ...]
    scoring: tuple[Path, ...]

    def names(self) -> dict[str, list[str]]:
        """{part: [image names]} of the three parts."""
        return {
            part: [p.stem for p in getattr(self, part)]
            for part in ("training", "tracking", "scoring")
        }

    def to_json(self) -> dict:
        return {
            "source": self.source,
            "rule": SPLIT_RULE,
            "counts": {part: len(names) for part, names in self.names().items()},
            **self.names(),
        }

    def write(self, run_dir: str | os.PathLike) -> Path:
        """Writes `RUN_DIR/photo_split.json` atomically."""
        from painter.io import atomic_path

        path = Path(run_dir) / PHOTO_SPLIT_JSON
        with atomic_path(path, force=True) as temp:
            temp.write_text(json.dumps(self.to_json(), indent=1) + "\n")
        return path


def read_split(run_dir: str | os.PathLike) -> dict | None:
    """The `photo_split.json` of a run as written (names and counts), or None."""
    path = Path(run_dir) / PHOTO_SPLIT_JSON
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def split_files(run_dir: str | os.PathLike, part: str, photo_folder: str | os.PathLike | None = None):
    """The image files of one part ("training", "tracking" or "scoring") of a run's split.

    Args:
        run_dir: a run directory with a `photo_split.json`.
        part: which part.
        photo_folder: where the photos are now. Default None: the folder recorded.

    Raises:
        UsageError: no split in the run, an unknown part, or a photo that is not there.
    """
    split = read_split(run_dir)
    if split is None:
        raise UsageError(f"{run_dir}: no {PHOTO_SPLIT_JSON} (the run did not hold photos out)")
    if part not in ("training", "tracking", "scoring"):
        raise UsageError(f"unknown part {part!r} of a photo split (training, tracking, scoring)")
    folder = Path(photo_folder or split["source"])
    by_name = {p.stem: p for p in _image_files(folder)}
    missing = [name for name in split[part] if name not in by_name]
    if missing:
        raise UsageError(f"{folder}: photo {missing[0]!r} of the run's {part} photos is not there")
    return [by_name[name] for name in split[part]]


def _image_files(folder: Path) -> list[Path]:
    from painter.data.sources import IMAGE_SUFFIXES, visible_files

    return [p for p in visible_files(folder) if p.suffix.lower() in IMAGE_SUFFIXES]


def photo_folder(root: str | os.PathLike) -> Path:
    """The folder of a Kaggle-layout root's photos as image files: the folder the photo
    source resolves to when it is one of images, else `photo_jpg/` beside the TFRecords.

    Raises:
        UsageError: no photo images to hold out (e.g. only `photo_tfrec/`).
    """
    from painter.data import resolve_source

    root = Path(root)
    source = resolve_source((root, "photo"))
    if source.kind == "images":
        return Path(source.files[0]).parent
    folder = root / "photo_jpg"
    if folder.is_dir() and _image_files(folder):
        return folder
    raise UsageError(
        f"{root}: holding photos out for MiFID tracking needs them as image files "
        f"(photo_jpg/); found {source.kind} only ({source})"
    )


def split_photos(
    folder: str | os.PathLike, *, track_photos: int, score_photos: int = 0
) -> PhotoSplit:
    """Splits a folder of photos by name (module docstring).

    Args:
        folder: a folder of JPEG/PNG photos.
        track_photos: photos held out for tracking (0: none).
        score_photos: photos held out for a final score, before tracking's (0: none).

    Raises:
        ValueError: a negative count.
        UsageError: names that are not unique, or nothing left to train on.
    """
    for name, value in (("track_photos", track_photos), ("score_photos", score_photos)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"`{name}` must be an int >= 0. Received: {name}={value!r}")
    folder = Path(folder)
    files = sorted(_image_files(folder), key=lambda p: (p.stem, p.name))
    stems = [p.stem for p in files]
    if len(set(stems)) != len(stems):
        twice = next(s for s in stems if stems.count(s) > 1)
        raise UsageError(f"{folder}: two photos named {twice!r}; a split by name needs unique names")
    held = track_photos + score_photos
    if held >= len(files):
        raise UsageError(
            f"{folder}: {len(files)} photos; holding out {track_photos} for tracking and "
            f"{score_photos} for scoring leaves none to train on (lower track_photos/score_photos)"
        )
    cut = len(files) - held
    return PhotoSplit(
        source=str(folder),
        training=tuple(files[:cut]),
        tracking=tuple(files[cut : cut + track_photos]),
        scoring=tuple(files[cut + track_photos :]),
    )


# ---- scoring pieces ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RealStatistics:
    """The real side of MiFID: features, their mean and covariance."""

    features: np.ndarray
    mu: np.ndarray
    sigma: np.ndarray


def decode_photos(files: Iterable, image_size: int = 256) -> np.ndarray:
    """uint8 (n, image_size, image_size, 3) of image files (or `EncodedImage`s)."""
    from painter.data import decode_rgb

    images = []
    for item in files:
        if hasattr(item, "data"):
            images.append(decode_rgb(item.data, item.origin, image_size=image_size))
        else:
            images.append(decode_rgb(Path(item).read_bytes(), str(item), image_size=image_size))
    return np.stack(images)


def _batches(images: np.ndarray, batch: int):
    for start in range(0, len(images), batch):
        yield images[start : start + batch]


def fid_feature_extractor(weights: str | os.PathLike = "fid") -> FeatureExtractor:
    """The FID Inception (`painter.metrics.fid_inception`) as a `FeatureExtractor`."""
    from painter.metrics import fid_inception

    model = fid_inception(weights=weights)
    return lambda images: np.asarray(model.predict_on_batch(images), dtype=np.float64)


def require_fid_weights(what: str = "track_mifid") -> Path:
    """The converted FID weights' path; WeightsError (one line, with the fix) if absent."""
    from painter.metrics.weights import HOW_TO_GET, fid_weights_path

    path = fid_weights_path()
    if not path.is_file():
        raise WeightsError(f"{what}: FID Inception weights not found at {path}; {HOW_TO_GET}")
    return path


def features_of(images: np.ndarray, features: FeatureExtractor, batch: int = 32) -> np.ndarray:
    """Features of uint8 images, `batch` at a time, as float64 (n, d)."""
    chunks = [np.asarray(features(chunk), dtype=np.float64) for chunk in _batches(images, batch)]
    return np.concatenate(chunks)


def real_statistics(
    monets, features: FeatureExtractor, *, batch: int = 32,
    cache_weights: str | os.PathLike | None = None,
) -> RealStatistics:
    """The Monets' features and statistics.

    Args:
        monets: any source `painter.data` reads, e.g. `(root, "monet")`.
        features: a `FeatureExtractor`.
        batch: images per network call. Default 32.
        cache_weights: when `features` is the FID Inception, its weights file: the
            features then come from, or go to, the content-keyed cache of `painter score`
            (`painter.metrics.cache`), so a set of Monets runs through the network once
            per machine, whatever the run. Default None: no cache.
    """
    from painter.metrics.features import decoded_images, scan_images
    from painter.metrics.maths import activation_statistics

    key = None
    if cache_weights is not None:
        from painter.metrics import cache as feature_cache
        from painter.metrics.weights import file_sha256

        key = feature_cache.feature_key(scan_images(monets).digest, file_sha256(cache_weights))
        cached = feature_cache.load_features(key)
        if cached is not None:
            return RealStatistics(*cached)
    images = np.stack(list(decoded_images(monets)))
    real = features_of(images, features, batch)
    mu, sigma = activation_statistics(real)
    if key is not None:
        feature_cache.save_features(key, real, mu, sigma, monets)
    return RealStatistics(real, mu, sigma)


def jpeg_round_trip(images: np.ndarray, quality: int = 95) -> np.ndarray:
    """The images as a submission holds them: JPEG-encoded at `quality`, decoded back."""
    from painter.data import decode_rgb, encode_jpeg

    return np.stack([decode_rgb(encode_jpeg(image, quality=quality), "jpeg") for image in images])


def frechet_distance_low_rank(generated: np.ndarray, mu_real, sigma_real) -> float:
    """Kaggle's FID of generated features (n, d) against (μ, Σ) of the real ones, computed
    through an n × n eigenproblem instead of `scipy.linalg.sqrtm` of a d × d matrix.

    With A = (features − μ) / √(n − 1), Σ_gen = AᵀA, and Σ_gen·Σ_real has the same
    non-zero eigenvalues as A·Σ_real·Aᵀ (symmetric, positive semi-definite), so
    tr √(Σ_gen Σ_real) = Σ √λᵢ of that n × n matrix. It is the same quantity as
    `painter.metrics.frechet_distance` (agreement ~1e-6 relative on real pool_3 features:
    tests/test_tracking.py), but for 250 tracked images against d = 2048 it takes a
    fraction of a second where sqrtm takes about a minute of CPU, which would be most of
    tracking's cost.
    """
    generated = np.asarray(generated, dtype=np.float64)
    mu_real = np.asarray(mu_real, dtype=np.float64)
    sigma_real = np.asarray(sigma_real, dtype=np.float64)
    if generated.ndim != 2 or len(generated) < 2 or generated.shape[1] != mu_real.shape[0]:
        raise ValueError(
            "generated features must be (n >= 2, d) with d of the real statistics. "
            f"Received: generated={generated.shape}, mu_real={mu_real.shape}"
        )
    mu_generated = generated.mean(axis=0)
    centred = (generated - mu_generated) / np.sqrt(len(generated) - 1)
    product = centred @ sigma_real @ centred.T
    eigenvalues = np.linalg.eigvalsh((product + product.T) / 2)
    trace_sqrt = np.sum(np.sqrt(np.clip(eigenvalues, 0.0, None)))
    diff = mu_generated - mu_real
    return float(diff @ diff + np.sum(centred * centred) + np.trace(sigma_real) - 2 * trace_sqrt)


def mifid_of(
    images: np.ndarray, real: RealStatistics, features: FeatureExtractor, *, batch: int = 32
) -> dict[str, float]:
    """{"mifid", "fid", "distance"} of uint8 images against `real` (Kaggle's formula;
    the FID through `frechet_distance_low_rank`)."""
    from painter.metrics.maths import memorization_distance, mifid

    generated = features_of(images, features, batch)
    fid = frechet_distance_low_rank(generated, real.mu, real.sigma)
    distance = memorization_distance(generated, real.features)
    return {"mifid": float(mifid(fid, distance)), "fid": float(fid), "distance": float(distance)}


def translate(
    generator, photos: np.ndarray, image_size: int, *, batch: int = 32, transform=None
) -> np.ndarray:
    """uint8 256-px photos → uint8 256-px translations, as `painter generate` makes them
    (`photo_translator`; pass its result as `transform` to reuse its traced function)."""
    if transform is None:
        from painter.submit.generate import photo_translator

        transform = photo_translator(generator, image_size)
    return np.concatenate([transform(chunk) for chunk in _batches(photos, batch)])


# ---- the epoch hook ---------------------------------------------------------------------


class MiFIDTracker:
    """An epoch hook (`painter.train.run.TrainingRun`) that scores gen_G on held-out photos.

    Every `every` epochs, and after the last one, it translates `photos`, scores them
    against the Monets, adds `mifid`, `fid`, `distance` and `track_seconds` (the time the
    tracking took; compare with the row's `seconds`, the epoch's training time) to the
    epoch's row, and when the MiFID is the lowest so far writes the checkpoint `best`
    (replaced atomically; named checkpoints are never pruned) with the row as its
    metrics. On a resumed run the bar to beat is the existing best checkpoint's MiFID.

    Args:
        photos: the held-out photos: image files, `EncodedImage`s, or uint8 images
            (n, 256, 256, 3). At least 2.
        monets: the real side, any source `painter.data` reads.
        every: score every `every` epochs. Default 1.
        features: a `FeatureExtractor` (uint8 batch → features). Default None: the FID
            Inception with the cached weights (WeightsError here if they are absent), and
            the Monets' features from the `painter score` cache.
        batch: images per generator / network call. Default 32.
        jpeg_quality: the translations are JPEG round-tripped at this quality, as a
            submission stores them; 0 skips it. Default 95.
        log: where the one line per scored epoch goes. Default print; None for silence.
    """

    def __init__(
        self,
        photos,
        monets,
        *,
        every: int = 1,
        features: FeatureExtractor | None = None,
        batch: int = 32,
        jpeg_quality: int = 95,
        log: Callable[[str], None] | None = print,
    ):
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise ValueError(f"`every` must be a positive int. Received: every={every!r}")
        if not isinstance(batch, int) or batch < 1:
            raise ValueError(f"`batch` must be a positive int. Received: batch={batch!r}")
        if not 0 <= jpeg_quality <= 95:
            raise ValueError(f"`jpeg_quality` must be in [0, 95]. Received: jpeg_quality={jpeg_quality!r}")
        photos = photos if isinstance(photos, np.ndarray) else decode_photos(photos)
        if photos.ndim != 4 or photos.dtype != np.uint8 or len(photos) < 2:
            raise ValueError(
                "`photos` must be at least 2 uint8 images (n, H, W, 3). "
                f"Received: shape={photos.shape}, dtype={photos.dtype}"
            )
        self.photos = photos
        self.monets = monets
        self.every = every
        self.batch = batch
        self.jpeg_quality = jpeg_quality
        self.log = log or (lambda message: None)
        self._features = features
        # The FID Inception's Monet features are cached by content; injected ones are not.
        self._cache_weights = None if features is not None else require_fid_weights()
        self._real: RealStatistics | None = None
        self._translator = None
        self.best: float | None = None  # lowest MiFID so far; None until first needed

    @property
    def features(self) -> FeatureExtractor:
        """The extractor, built on first use (the network is not loaded before training)."""
        if self._features is None:
            self._features = fid_feature_extractor(self._cache_weights)
        return self._features

    @property
    def real(self) -> RealStatistics:
        """The Monets' statistics, computed (or read from the cache) once."""
        if self._real is None:
            self._real = real_statistics(
                self.monets, self.features, batch=self.batch, cache_weights=self._cache_weights
            )
        return self._real

    def score(self, generator, image_size: int) -> dict[str, float]:
        """{"mifid", "fid", "distance"} of `generator`'s translations of the photos."""
        if self._translator is None or self._translator[:2] != (generator, image_size):
            from painter.submit.generate import photo_translator

            # Traced once per run: the generator's weights change, not the object.
            self._translator = (generator, image_size, photo_translator(generator, image_size))
        images = translate(generator, self.photos, image_size, batch=self.batch,
                           transform=self._translator[2])
        if self.jpeg_quality:
            images = jpeg_round_trip(images, self.jpeg_quality)
        return mifid_of(images, self.real, self.features, batch=self.batch)

    def due(self, epoch: int, last_epoch: int) -> bool:
        """Whether `epoch` is scored: every `every`-th, and the last."""
        return epoch % self.every == 0 or epoch == last_epoch

    def start(self, run) -> dict | None:
        """Scores a residual generator before the first step, as epoch 0.

        A residual generator starts as the identity (or as its matched tone curve), so
        this is the photos' own score (or colour matching's), and `best` starts there: a
        run whose training never beats its start leaves the start as its best checkpoint,
        not a worse epoch. Returns the epoch-0 row (`epoch`, `step`, `seconds` = 0 and the
        tracked columns), or None for a generator that starts from noise (`tanh` output),
        whose untrained score is no bar worth keeping.
        """
        if getattr(run.config, "output", "") != "residual":
            return None
        row = {"epoch": 0, "step": run.global_step, "seconds": 0.0}
        self(run, 0, row)
        return row

    def __call__(self, run, epoch: int, logs: dict) -> None:
        if epoch and not self.due(epoch, run.planned_epochs):
            return
        from painter.train import checkpoints as ckpt

        if self.best is None:
            self.best = _best_so_far(run.run_dir)
        started = time.monotonic()
        scores = self.score(run.model.gen_G, run.config.image_size)
        logs.update(scores)
        logs["track_seconds"] = round(time.monotonic() - started, 3)
        improved = scores["mifid"] < self.best
        if improved:
            self.best = scores["mifid"]
            metrics = {k: v for k, v in logs.items() if _is_number(v)}
            ckpt.save_checkpoint(
                run.run_dir, run.model, run.config, epoch=epoch, step_in_epoch=0,
                global_step=run.global_step, metrics=metrics, name="best",
            )
        self.log(
            f"epoch {epoch}{' (the untrained generator)' if epoch == 0 else ''}: MiFID {scores['mifid']:.2f} (FID {scores['fid']:.2f}, distance "
            f"{scores['distance']:.3f}) on {len(self.photos)} held-out photos in "
            f"{logs['track_seconds']:.1f}s" + ("; new best → checkpoints/best" if improved
                                               else f"; best stays {self.best:.2f}")
        )


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _best_so_far(run_dir: Path) -> float:
    """The MiFID of the run's `best` checkpoint (a resumed run), else infinity."""
    from painter.errors import CheckpointError
    from painter.train import checkpoints as ckpt

    try:
        found = ckpt.find_checkpoint(run_dir, "best")
    except CheckpointError:
        return math.inf
    return float(found.metrics.get("mifid", math.inf))


# ---- what `train` calls -----------------------------------------------------------------


@dataclasses.dataclass
class Tracking:
    """What `prepare_tracking` sets up for a run.

    Attributes:
        split: the photo split.
        hooks: the epoch hooks to add (the `MiFIDTracker`, when tracking).
    """

    split: PhotoSplit
    hooks: tuple = ()

    @property
    def training_photos(self) -> list[Path]:
        """The photo files the training pipeline may read."""
        return list(self.split.training)

    def check_resume(self, run_dir: str | os.PathLike) -> None:
        """A resumed run must hold out the photos it held out before (UsageError if not)."""
        before = read_split(run_dir)
        now = self.split.names()
        if before is not None and any(before.get(p) != now[p] for p in ("tracking", "scoring")):
            raise UsageError(
                f"{run_dir}: the photos held out now differ from the run's "
                f"{PHOTO_SPLIT_JSON} (other data, or track_photos/score_photos changed)"
            )

    def write(self, run_dir: str | os.PathLike) -> None:
        """Writes the split into the run (`photo_split.json`)."""
        self.split.write(run_dir)


def prepare_tracking(
    config, root: str | os.PathLike, *, features: FeatureExtractor | None = None,
    log: Callable[[str], None] | None = print,
) -> Tracking | None:
    """The photo split and MiFID hook a CycleGAN config asks for; None when it asks for none.

    Runs before training, so that what would fail does so first: missing FID weights
    (WeightsError with the fix), photos that cannot be split (UsageError).

    Args:
        config: a `CycleGANConfig` (`track_mifid`, `track_every`, `track_photos`,
            `score_photos`); other families get None.
        root: the Kaggle-layout data root.
        features: passed to `MiFIDTracker`. Default None: the FID Inception.
        log: where messages go. Default print.
    """
    log = log or (lambda message: None)
    track = bool(getattr(config, "track_mifid", False))
    score_photos = int(getattr(config, "score_photos", 0))
    if config.family != "cyclegan" or not (track or score_photos):
        return None
    if track:
        if features is None:
            require_fid_weights()
        if config.track_every < 1:
            raise UsageError(f"track_every must be at least 1, got {config.track_every}")
        if config.track_photos < 2:
            raise UsageError(f"track_photos must be at least 2 (MiFID needs 2), got {config.track_photos}")
    split = split_photos(
        photo_folder(root), track_photos=config.track_photos if track else 0,
        score_photos=score_photos,
    )
    log(
        f"photos: {len(split.training)} for training, {len(split.tracking)} held out for "
        f"MiFID tracking, {len(split.scoring)} held out for scoring ({PHOTO_SPLIT_JSON})"
    )
    hooks: tuple = ()
    if track:
        tracker = MiFIDTracker(
            split.tracking, (str(root), "monet"), every=config.track_every,
            features=features, log=log,
        )
        hooks = (tracker,)
    return Tracking(split=split, hooks=hooks)
