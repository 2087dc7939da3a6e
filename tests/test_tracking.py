"""MiFID tracking (issue 8): the photo split, the tracked run (history column, `best` as
the argmin, held-out photos never reaching the training pipeline), the one-line refusal
without FID weights, and the tracker's score against `painter score` with the real
network.

The training tests inject a cheap feature extractor (colour statistics) through
`prepare_tracking(features=…)`, so they train a tiny model in seconds; one test runs the
real FID Inception on a handful of images.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import shutil

import numpy as np
import pytest

import painter.data
from conftest import tiny_cyclegan
from painter.config import CycleGANConfig, config_to_toml
from painter.errors import UsageError
from painter.train import checkpoints as ckpt
from painter import rundir
from painter.metrics.features import decode_photos, image_features, jpeg_round_trip
from painter.metrics.maths import frechet_distance_low_rank
from painter.metrics.score import mifid_of
from painter.train import tracking
from painter.train.history import read_history

TINY = tiny_cyclegan(
    disc_layers=1, output="residual", upsample="resize", epochs=3, decay_epochs=1,
    steps_per_epoch=2, learning_rate=2e-3,
    track_mifid=True, track_every=1, track_photos=6, score_photos=4,
)


def colour_features(images: np.ndarray) -> np.ndarray:
    """A stand-in for the FID Inception: per-channel means and deviations, and the means
    of a 2×2 grid (n, 18); enough to move as the generator moves."""
    x = images.astype(np.float64) / 255.0
    n, h, w, _ = x.shape
    quads = x.reshape(n, 2, h // 2, 2, w // 2, 3).mean(axis=(2, 4)).reshape(n, -1)
    return np.concatenate([x.mean(axis=(1, 2)), x.std(axis=(1, 2)), quads], axis=1)


@pytest.fixture
def data_root(tmp_path, sample_dir):
    """A Kaggle-layout root: the sample's 32 photos and 32 Monets (copied: a test may add)."""
    root = tmp_path / "data"
    for domain in ("photo_jpg", "monet_jpg"):
        shutil.copytree(sample_dir / domain, root / domain)
    return root


# ---- the split ----------------------------------------------------------------------------


def test_split_is_by_name_disjoint_and_deterministic(data_root):
    folder = data_root / "photo_jpg"
    split = rundir.split_photos(folder, track_photos=6, score_photos=4)
    names = sorted(p.stem for p in folder.iterdir())
    assert [p.stem for p in split.scoring] == names[-4:]
    assert [p.stem for p in split.tracking] == names[-10:-4]
    assert [p.stem for p in split.training] == names[:-10]
    assert split == rundir.split_photos(folder, track_photos=6, score_photos=4)
    # Adding photos that sort last moves the held-out range: the rule is by name only.
    (folder / "zzzz.jpg").write_bytes((folder / f"{names[0]}.jpg").read_bytes())
    moved = rundir.split_photos(folder, track_photos=6, score_photos=4)
    assert moved.scoring[-1].stem == "zzzz" and moved.training == split.training + (split.tracking[0],)


def test_split_refuses_to_leave_nothing_to_train_on(data_root):
    with pytest.raises(UsageError, match="leaves none to train on"):
        rundir.split_photos(data_root / "photo_jpg", track_photos=30, score_photos=2)


def test_a_resume_must_hold_out_the_same_photos(data_root, tmp_path):
    folder = data_root / "photo_jpg"
    first = tracking.Tracking(rundir.split_photos(folder, track_photos=6, score_photos=4))
    first.write(tmp_path)
    first.check_resume(tmp_path)  # the same split: fine
    other = tracking.Tracking(rundir.split_photos(folder, track_photos=5, score_photos=4))
    with pytest.raises(UsageError, match="held out now differ"):
        other.check_resume(tmp_path)
    assert rundir.split_files(tmp_path, "scoring") == list(first.split.scoring)


def test_photos_only_as_tfrecords_cannot_be_split(tmp_path, data_root):
    root = tmp_path / "tfrec_only"
    (root / "photo_tfrec").mkdir(parents=True)
    (root / "photo_tfrec" / "photo00-1.tfrec").write_bytes(b"")
    with pytest.raises(UsageError, match="needs them as image files"):
        rundir.photo_folder(root)
    assert rundir.photo_folder(data_root) == data_root / "photo_jpg"


# ---- a tracked run ------------------------------------------------------------------------


def _pixel_hashes(dataset) -> set[str]:
    """Hashes of every image of a dataset of float [-1, 1] images (batched or pairs)."""
    hashes = set()
    for element in dataset:
        batch = element[0] if isinstance(element, tuple) else element
        for image in np.asarray(batch):
            pixels = np.round((image + 1.0) * 127.5).astype(np.uint8)
            hashes.add(hashlib.sha256(pixels.tobytes()).hexdigest())
    return hashes


@pytest.mark.slow
def test_tracked_run_writes_mifid_keeps_the_argmin_as_best_and_never_trains_on_held_out(
    tmp_path, data_root, monkeypatch
):
    # The training pipeline as train() builds it, captured to be read back below.
    built = {}
    real_unpaired = painter.data.unpaired_dataset

    def capturing_unpaired(photo_source, monet_source, **kwargs):
        built["photos"] = photo_source
        built["kwargs"] = kwargs
        return real_unpaired(photo_source, monet_source, **kwargs)

    monkeypatch.setattr(painter.data, "unpaired_dataset", capturing_unpaired)
    monkeypatch.setattr(
        tracking, "prepare_tracking",
        functools.partial(tracking.prepare_tracking, features=colour_features),
    )
    lines = []
    from painter.train import train

    run_dir = tmp_path / "run"
    result = train(TINY, data=data_root, out=run_dir, strategy="cpu", log=lines.append,
                   progress=False)

    # history.csv: the untrained generator as epoch 0, then every epoch (track_every = 1),
    # each with its cost beside it.
    history = read_history(run_dir / "history.csv")
    assert [row["epoch"] for row in history] == [0, 1, 2, 3]
    for row in history:
        for column in tracking.TRACKED_COLUMNS:
            assert math.isfinite(row[column]), (column, row)
    scores = [row["mifid"] for row in history]
    assert len(set(scores)) == 4, "the score should move as the generator trains"
    # Epoch 0 of a residual generator is the identity: the photos themselves, through the
    # generator's working size and back, JPEG q95, as tracked.
    tracker = tracking.MiFIDTracker(split_files_of(run_dir, data_root), (data_root, "monet"),
                                    features=colour_features, log=None)
    identity = tracking.translate(lambda x, training=False: x, tracker.photos, TINY.image_size)
    untouched = mifid_of(jpeg_round_trip(identity), tracker.real,
                                  colour_features)
    assert scores[0] == pytest.approx(untouched["mifid"], rel=1e-4)

    # best: the argmin, with its MiFID where report.py reads it; pruning spared it.
    best = ckpt.find_checkpoint(run_dir, "best")
    argmin = int(np.argmin(scores))
    assert best.metrics["mifid"] == pytest.approx(scores[argmin], rel=1e-5)
    assert best.epoch == history[argmin]["epoch"] and best.step_in_epoch == 0
    manifest = json.loads((best.path / "manifest.json").read_text())
    assert manifest["metrics"]["mifid"] == pytest.approx(scores[argmin], rel=1e-5)
    numbered = [c for c in ckpt.list_checkpoints(run_dir) if c.numbered]
    assert len(numbered) == 1 and numbered[0].epoch == 3  # keep_checkpoints = 1
    assert tracking._best_so_far(run_dir) == pytest.approx(min(scores), rel=1e-5)
    assert any("new best" in line for line in lines)

    # The split is recorded, and the pipeline got exactly the training part.
    recorded = rundir.read_split(run_dir)
    split = rundir.split_photos(data_root / "photo_jpg", track_photos=6, score_photos=4)
    assert recorded["counts"] == {"training": 22, "tracking": 6, "scoring": 4}
    assert recorded["tracking"] == [p.stem for p in split.tracking]
    assert sorted(map(str, built["photos"])) == sorted(map(str, split.training))
    assert result.config.steps_per_epoch == 2

    # And its images: two passes over the captured pipeline hold training photos only.
    held_out = list(split.tracking + split.scoring)
    size = TINY.image_size
    held_hashes = _pixel_hashes(painter.data.image_dataset(held_out, image_size=size, batch_size=5))
    train_hashes = _pixel_hashes(painter.data.image_dataset(list(split.training), image_size=size,
                                                            batch_size=2))
    assert len(held_hashes) == 10 and len(train_hashes) == 22
    seen = _pixel_hashes(real_unpaired(built["photos"], (data_root, "monet"),
                                       **built["kwargs"]).repeat(2))
    assert seen == train_hashes  # every training photo, and nothing else
    assert not seen & held_hashes


@pytest.mark.slow
def test_a_matched_tone_curve_starts_from_the_training_photos_histogram_match(
    tmp_path, data_root, monkeypatch
):
    from painter.data.color import channel_histograms, histogram_match_curve
    from painter.metrics.features import decoded_images
    from painter.train import train

    monkeypatch.setattr(
        tracking, "prepare_tracking",
        functools.partial(tracking.prepare_tracking, features=colour_features),
    )
    config = dataclasses.replace(TINY, tone_curve=16, tone_curve_init="match", epochs=1)
    lines = []
    run_dir = tmp_path / "run"
    train(config, data=data_root, out=run_dir, strategy="cpu", log=lines.append, progress=False)
    assert any(line.startswith("tone curves: histogram match of 22 training photos") for line in lines)

    # What epoch 0 scored: the held-out photos through the curve that matches the
    # *training* photos' histograms (never the held-out ones) to the Monets'.
    split = rundir.split_photos(data_root / "photo_jpg", track_photos=6, score_photos=4)
    knots = np.linspace(-1, 1, 17)
    curve = histogram_match_curve(
        channel_histograms(decode_photos(split.training, TINY.image_size)),
        channel_histograms(decoded_images((data_root, "monet"))),
        knots,
    )

    from painter.models.layers import ToneCurve

    matched = ToneCurve(16)
    matched.build((None, 3))
    matched.set_curve(curve)

    tracker = tracking.MiFIDTracker(split_files_of(run_dir, data_root), (data_root, "monet"),
                                    features=colour_features, log=None)
    expected = mifid_of(
        jpeg_round_trip(tracking.translate(lambda x, training=False: matched(x), tracker.photos, TINY.image_size)),
        tracker.real, colour_features,
    )["mifid"]
    untouched = mifid_of(
        jpeg_round_trip(tracking.translate(lambda x, training=False: x, tracker.photos,
                                                    TINY.image_size)),
        tracker.real, colour_features,
    )["mifid"]
    scores = [row["mifid"] for row in read_history(run_dir / "history.csv")]
    assert scores[0] == pytest.approx(expected, rel=1e-3)
    assert abs(expected - untouched) > 1e-2 * untouched  # the curve did change the photos


def split_files_of(run_dir, data_root):
    return rundir.split_files(run_dir, "tracking", data_root / "photo_jpg")


def test_tracking_without_fid_weights_fails_first_in_one_line(run_cli, tmp_path, data_root,
                                                              empty_cache, one_error_line):
    config = tmp_path / "tracked.toml"
    config.write_text(config_to_toml(TINY))
    run_dir = tmp_path / "run"
    code, out, err = run_cli("train", config, "--data", data_root, "--out", run_dir)
    assert code == 1
    line = one_error_line(err)
    assert line.startswith("error: track_mifid: FID Inception weights")
    assert "painter weights fetch" in line
    assert not run_dir.exists()


def test_tracker_checks_its_arguments():
    photos = np.zeros((4, 8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="every"):
        tracking.MiFIDTracker(photos, None, every=0, features=colour_features)
    with pytest.raises(ValueError, match="at least 2 uint8 images"):
        tracking.MiFIDTracker(photos[:1], None, features=colour_features)
    tracker = tracking.MiFIDTracker(photos, None, every=3, features=colour_features)
    assert [e for e in range(1, 9) if tracker.due(e, last_epoch=8)] == [3, 6, 8]


# ---- the real scorer ----------------------------------------------------------------------


def test_low_rank_frechet_distance_is_kaggles_formula():
    from painter.metrics.maths import activation_statistics, frechet_distance

    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(20, 64))  # low-rank, correlated, non-negative like pool_3
    real = np.maximum(rng.normal(size=(40, 20)) @ mixing, 0)
    for generated in (real[:12] * 1.3 + 0.2, np.maximum(rng.normal(size=(30, 20)) @ mixing, 0)):
        mu_real, sigma_real = activation_statistics(real)
        mu_gen, sigma_gen = activation_statistics(generated)
        expected = frechet_distance(mu_gen, sigma_gen, mu_real, sigma_real)
        got = frechet_distance_low_rank(generated, mu_real, sigma_real)
        assert got == pytest.approx(expected, rel=1e-6)
    assert frechet_distance_low_rank(real, mu_real, sigma_real) == pytest.approx(0, abs=1e-6)


@pytest.mark.slow
def test_tracker_score_equals_painter_score_of_the_same_images(tmp_path, sample_dir, monkeypatch,
                                                               fid_weights):
    """The tracker's number is `compute_mifid` of the images `painter generate` would
    write (its translator, JPEG at quality 95), with the real FID Inception and cache.

    `painter score`'s sqrtm of a 2048² matrix costs a minute of CPU; its FID is swapped
    for the low-rank form here, which the test above holds to Kaggle's formula.
    """
    import keras
    from PIL import Image

    from painter.metrics import cache as feature_cache
    from painter.metrics import compute_mifid
    from painter.metrics import score as score_module
    from painter.metrics.weights import FID_WEIGHTS_NAME

    # A cache of its own (the weights linked in), so the cache's use is seen.
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / FID_WEIGHTS_NAME).symlink_to(fid_weights)
    monkeypatch.setenv("PAINTER_CACHE", str(cache))
    monets = tmp_path / "monets"
    monets.mkdir()
    for path in sorted((sample_dir / "monet_jpg").iterdir())[:3]:
        shutil.copy(path, monets / path.name)
    photos = sorted((sample_dir / "photo_jpg").iterdir())[:3]

    # A generator that darkens: a real, non-identity translation at 128 px.
    image = keras.Input((128, 128, 3))
    generator = keras.Model(image, keras.layers.Lambda(lambda x: x * 0.8 - 0.1)(image))
    tracker = tracking.MiFIDTracker(photos, monets, log=None)
    score = tracker.score(generator, image_size=128)
    assert len(feature_cache.list_entries()) == 1  # the Monets' features, for `painter score`

    images = jpeg_round_trip(tracking.translate(generator, tracker.photos, 128))
    assert np.abs(images.astype(int) - tracker.photos.astype(int)).mean() > 5
    folder = tmp_path / "translations"
    folder.mkdir()
    for index, array in enumerate(images):
        Image.fromarray(array).save(folder / f"{index}.png")  # lossless: the same pixels
    captured = []

    def capture(mu, sigma, mu_real, sigma_real):
        captured.append((mu, sigma, mu_real, sigma_real))
        return 0.0

    monkeypatch.setattr(score_module, "frechet_distance", capture)
    reference = compute_mifid(str(folder), str(monets))
    assert reference.real_cached

    # The same generated features and the same real statistics on both sides…
    generated = image_features(images, tracker.features)
    mu, sigma, mu_real, sigma_real = captured[0]
    np.testing.assert_allclose(mu, generated.mean(axis=0), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(sigma, np.cov(generated, rowvar=False), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(mu_real, tracker.real.mu, rtol=1e-12)
    np.testing.assert_allclose(sigma_real, tracker.real.sigma, rtol=1e-12)
    # …so the same distance, and the FID of Kaggle's formula (the test above).
    assert score["distance"] == pytest.approx(reference.distance, rel=1e-6)
    assert score["fid"] == pytest.approx(
        frechet_distance_low_rank(generated, mu_real, sigma_real), rel=1e-6)
    assert score["mifid"] == pytest.approx(score["fid"])  # distance ≥ 0.1: MiFID = FID


def test_an_untrained_residual_generator_scores_as_the_photos(sample_dir):
    """Identity start at Kaggle's 256 px with bilinear up-sampling (static shapes needed):
    the tracked score of the untrained generator is the photos' own."""
    from painter.models.generators import build_generator

    config = CycleGANConfig(image_size=256, gen_filters=2, residual_blocks=0, upsample="resize",
                            output="residual", residual_scale=64)
    generator = build_generator(config)
    photos = sorted((sample_dir / "photo_jpg").iterdir())[:4]
    tracker = tracking.MiFIDTracker(photos, sample_dir / "monet_jpg", features=colour_features,
                                    log=None)
    score = tracker.score(generator, image_size=256)
    as_they_are = mifid_of(jpeg_round_trip(tracker.photos), tracker.real,
                                    colour_features)
    assert score == pytest.approx(as_they_are, rel=1e-9)


@pytest.mark.slow
def test_a_lab_colour_transfer_starts_from_the_monets_lab_statistics(tmp_path, data_root, monkeypatch):
    from painter.data.color import lab_statistics
    from painter.metrics.features import decoded_images
    from painter.models.layers import LabColorTransfer
    from painter.train import train

    monkeypatch.setattr(
        tracking, "prepare_tracking",
        functools.partial(tracking.prepare_tracking, features=colour_features),
    )
    config = dataclasses.replace(TINY, color_transfer="lab", epochs=1)
    lines = []
    run_dir = tmp_path / "run"
    train(config, data=data_root, out=run_dir, strategy="cpu", log=lines.append, progress=False)
    assert any(line.startswith("colour transfer: Lab mean") and "of 22 training photos (gen_F)" in line
               for line in lines)

    # Epoch 0 scored the held-out photos through the `color-match` transfer onto the
    # Monets' Lab statistics (test_models_layers: the same images as the baseline's).
    mean, std, _ = lab_statistics(decoded_images((data_root, "monet")))
    transfer = LabColorTransfer()
    transfer.build((None, 3))
    transfer.set_target(mean, std)
    tracker = tracking.MiFIDTracker(split_files_of(run_dir, data_root), (data_root, "monet"),
                                    features=colour_features, log=None)
    expected = mifid_of(
        jpeg_round_trip(tracking.translate(lambda x, training=False: transfer(x),
                                                    tracker.photos, TINY.image_size)),
        tracker.real, colour_features,
    )["mifid"]
    untouched = mifid_of(jpeg_round_trip(tracker.photos), tracker.real,
                                  colour_features)["mifid"]
    scores = [row["mifid"] for row in read_history(run_dir / "history.csv")]
    assert scores[0] == pytest.approx(expected, rel=1e-3)
    assert abs(expected - untouched) > 1e-2 * untouched
