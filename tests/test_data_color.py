"""Per-channel histograms and histogram matching (the `tone_curve_init = "match"` start)."""

import numpy as np
import pytest

from painter.data.color import channel_histograms, histogram_match_curve

KNOTS = np.linspace(-1, 1, 17)


def uniform_images(low, high, n=4, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(low, high + 1, (16, 16, 3), dtype=np.uint8) for _ in range(n)]


def apply(curve, images):
    x = np.stack(images).astype(np.float64) / 127.5 - 1
    y = np.stack([np.interp(x[..., c], KNOTS, curve[:, c]) for c in range(3)], -1)
    return np.clip(np.round((y + 1) * 127.5), 0, 255).astype(np.uint8)


def test_histograms_count_every_value_of_every_channel():
    image = np.zeros((2, 3, 3), np.uint8)
    image[..., 1] = 7
    image[0, 0, 2] = 255
    counts = channel_histograms([image, image])
    assert counts.shape == (256, 3) and counts.sum(axis=0).tolist() == [12, 12, 12]
    assert counts[0, 0] == 12 and counts[7, 1] == 12 and counts[255, 2] == 2 and counts[0, 2] == 10
    with pytest.raises(ValueError, match="uint8"):
        channel_histograms([image.astype(np.float32)])
    with pytest.raises(ValueError, match="no images"):
        channel_histograms([])


def test_matching_a_set_to_itself_is_the_identity():
    counts = channel_histograms(uniform_images(0, 255))
    curve = histogram_match_curve(counts, counts, KNOTS)
    np.testing.assert_allclose(curve, np.stack([KNOTS] * 3, 1), atol=1.5 / 127.5)


def test_matching_moves_one_distribution_onto_another():
    dark, bright = uniform_images(0, 99), uniform_images(120, 250, seed=1)
    curve = histogram_match_curve(channel_histograms(dark), channel_histograms(bright), KNOTS)
    assert np.all(np.diff(curve, axis=0) >= 0)  # non-decreasing
    assert curve.min() >= -1 and curve.max() <= 1
    moved = apply(curve, dark)
    # The matched dark set spans the bright set's range, and their means agree.
    assert moved.min() >= 115 and moved.max() <= 252
    assert abs(moved.mean() - np.stack(bright).mean()) < 4


@pytest.mark.slow
def test_real_photos_matched_to_monets_take_the_monets_colour(shared_data):
    from itertools import islice

    from painter.metrics.features import decoded_images

    photos = list(islice(decoded_images((shared_data, "photo")), 300))
    monets = list(islice(decoded_images((shared_data, "monet")), 300))
    curve = histogram_match_curve(channel_histograms(photos[:200]), channel_histograms(monets[:200]),
                                  KNOTS)
    # Fitted on one half, it brings the other half's channel means near the Monets'.
    held_photos, held_monets = np.stack(photos[200:]), np.stack(monets[200:])
    before = np.abs(held_photos.mean((0, 1, 2)) - held_monets.mean((0, 1, 2)))
    after = np.abs(apply(curve, list(held_photos)).mean((0, 1, 2)) - held_monets.mean((0, 1, 2)))
    assert np.all(after < 0.5 * before), (before, after)


def test_lab_statistics_are_every_pixels_mean_and_std(sample_dir):
    from painter.data.color import lab_statistics, rgb_to_lab
    from painter.metrics.features import decoded_images
    from painter.submit.baselines import color_stats

    monets = list(decoded_images((sample_dir, "monet")))
    mean, std, count = lab_statistics(monets)
    pixels = np.concatenate([rgb_to_lab(m).reshape(-1, 3) for m in monets]).astype(np.float64)
    assert count == len(monets)
    np.testing.assert_allclose(mean, pixels.mean(0), rtol=1e-6)
    np.testing.assert_allclose(std, pixels.std(0), rtol=1e-5)
    stats = color_stats((sample_dir, "monet"), "lab")  # the baseline's, from the files
    np.testing.assert_allclose(stats.mean, mean, rtol=1e-6)
    with pytest.raises(ValueError, match="no images"):
        lab_statistics([])
