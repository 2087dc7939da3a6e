"""MiFID tracking during training, on photos the run holds out.

A GAN's losses say little about what Kaggle scores, so a CycleGAN run with
`track_mifid = true` translates a fixed set of held-out photos every `track_every` epochs,
scores them against the Monets with Kaggle's MiFID (`painter.metrics`), adds `mifid`,
`fid`, `distance` and `track_seconds` to that epoch's row of history.csv, and keeps
`checkpoints/best/`: the checkpoint of the lowest MiFID so far, its score in the
manifest's `metrics.mifid` (`painter generate` uses it by default).

A run that keeps a moving average of its generator (`ema_decay`, `painter.train.ema`)
scores both generators each tracked epoch: `mifid_raw` and `mifid_ema` in the row, and
`mifid`, `fid`, `distance` of the better one, which `best` keeps, its manifest saying
which weights to generate with (`generator_weights`).

Which photos are held out, and `photo_split.json`: `painter.rundir` (`split_photos`).

Scores here match `painter score` of the same images as a submission: the translations
go through `painter.inference.photo_translator` (what `painter generate` runs) and a JPEG
round trip at the submission's quality, and both sides' features take `painter score`'s
path (`painter.metrics.features.image_features`), the Monets' through the same
content-keyed cache (`painter.metrics.score.real_statistics`).
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np

from painter.errors import UsageError
from painter.metrics.features import FeatureExtractor, decode_photos, fid_feature_extractor, jpeg_round_trip
from painter.metrics.score import RealStatistics, mifid_of, real_statistics
from painter.pretrained import require_weights
from painter.rundir import PHOTO_SPLIT_JSON, PhotoSplit, photo_folder, read_split, split_photos
from painter.train.callbacks import RunCallback
from painter.train.ema import generator_ema

# Columns a tracked epoch adds to history.csv (and to its checkpoint's metrics); a run
# with a moving average of its generator adds EMA_COLUMNS too.
TRACKED_COLUMNS = ("mifid", "fid", "distance", "track_seconds")
EMA_COLUMNS = ("mifid_raw", "mifid_ema")


def translate(
    generator, photos: np.ndarray, image_size: int, *, batch: int = 32, transform=None
) -> np.ndarray:
    """uint8 256-px photos → uint8 256-px translations, as `painter generate` makes them
    (`photo_translator`; pass its result as `transform` to reuse its traced function)."""
    if transform is None:
        from painter.inference import photo_translator

        transform = photo_translator(generator, image_size)
    return np.concatenate([transform(photos[start : start + batch])
                           for start in range(0, len(photos), batch)])


# ---- the callback ------------------------------------------------------------------------


class MiFIDTracker(RunCallback):
    """A training callback that scores the family's generator on held-out photos.

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
        super().__init__()
        self.photos = photos
        self.monets = monets
        self.every = every
        self.batch = batch
        self.jpeg_quality = jpeg_quality
        self.log = log or (lambda message: None)
        self._features = features
        # The FID Inception's Monet features are cached by content; injected ones are not.
        self._cache_weights = None if features is not None else require_weights("fid", "track_mifid")
        self._real: RealStatistics | None = None
        self._translators: dict = {}
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
        key = (id(generator), image_size)
        if key not in self._translators:
            from painter.inference import photo_translator

            # Traced once per generator: its weights change, not the object.
            self._translators[key] = (generator, photo_translator(generator, image_size))
        images = translate(generator, self.photos, image_size, batch=self.batch,
                           transform=self._translators[key][1])
        if self.jpeg_quality:
            images = jpeg_round_trip(images, self.jpeg_quality)
        return mifid_of(images, self.real, self.features, batch=self.batch)

    def due(self, epoch: int, last_epoch: int) -> bool:
        """Whether `epoch` is scored: every `every`-th, and the last."""
        return epoch % self.every == 0 or epoch == last_epoch

    def start(self, run, always: bool = False) -> dict | None:
        """Scores a residual generator (or with `always`, any: a run restarted from
        another's checkpoint) before the first step, as epoch 0.

        A residual generator starts as the identity (or as its matched tone curve), so
        this is the photos' own score (or colour matching's), and `best` starts there: a
        run whose training never beats its start leaves the start as its best checkpoint,
        not a worse epoch. Returns the epoch-0 row (`epoch`, `step`, `seconds` = 0 and the
        tracked columns), or None for a generator that starts from noise (`tanh` output),
        whose untrained score is no bar worth keeping.
        """
        if not always and getattr(run.config, "output", "") != "residual":
            return None
        row = {"epoch": 0, "step": run.global_step, "seconds": 0.0}
        self.track(run, 0, row)
        return row

    def epoch_end(self, epoch: int, row: dict) -> None:
        if self.due(epoch, self.run.planned_epochs):
            self.track(self.run, epoch, row)

    def track(self, run, epoch: int, logs: dict) -> None:
        """Scores the run's generator now as `epoch`'s (and its moving average, if the
        run keeps one), adds the scores to `logs` (its row) and writes `best` when the
        better of them beats the best so far."""
        from painter.families import family_of
        from painter.train import checkpoints as ckpt

        if self.best is None:
            self.best = _best_so_far(run.run_dir)
        started = time.monotonic()
        family = family_of(run.config)
        ema = generator_ema(run.model)
        scores = {"raw": self.score(family.generator(run.model), run.config.image_size)}
        if ema is not None:
            # At the start the average is the generator itself.
            scores["ema"] = (scores["raw"] if epoch == 0 and not run.global_step
                             else self.score(ema.network, run.config.image_size))
            logs.update({"mifid_raw": scores["raw"]["mifid"], "mifid_ema": scores["ema"]["mifid"]})
        # The average wins a tie: generation uses it when it is no worse.
        chosen = min(reversed(scores), key=lambda k: scores[k]["mifid"])
        logs.update(scores[chosen])
        logs["track_seconds"] = round(time.monotonic() - started, 3)
        improved = logs["mifid"] < self.best
        if improved:
            self.best = logs["mifid"]
            metrics = {k: v for k, v in logs.items() if _is_number(v)}
            ckpt.save_checkpoint(
                run.run_dir, run.model, run.config, epoch=epoch, step_in_epoch=0,
                global_step=run.global_step, metrics=metrics, name="best",
                generator_weights=chosen,
            )
        both = (f" ({'EMA' if chosen == 'ema' else 'raw'} generator; EMA "
                f"{scores['ema']['mifid']:.2f}, raw {scores['raw']['mifid']:.2f})"
                if ema is not None else "")
        self.log(
            f"epoch {epoch}{' (the untrained generator)' if epoch == 0 else ''}: MiFID "
            f"{logs['mifid']:.2f}{both} (FID {logs['fid']:.2f}, distance "
            f"{logs['distance']:.3f}) on {len(self.photos)} held-out photos in "
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
        tracker: the `MiFIDTracker` callback, when tracking; else None.
    """

    split: PhotoSplit
    tracker: MiFIDTracker | None = None

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
    """The photo split and MiFID tracker a config asks for; None when it asks for none
    (or its family translates no photos).

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
    from painter.families import family_of

    if not family_of(config).takes_photos or not (track or score_photos):
        return None
    if track:
        if features is None:
            require_weights("fid", "track_mifid")
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
    tracker = None
    if track:
        tracker = MiFIDTracker(
            split.tracking, (str(root), "monet"), every=config.track_every,
            features=features, log=log,
        )
    return Tracking(split=split, tracker=tracker)
