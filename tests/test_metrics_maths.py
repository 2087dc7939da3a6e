"""MiFID's maths on hand-checkable cases (no network, no weights)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from painter.metrics import maths


def _random_spd(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def test_identical_sets_give_zero_fid():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(200, 16)) * rng.uniform(0.5, 3, size=16)
    mu, sigma = maths.activation_statistics(features)
    fid = maths.frechet_distance(mu, sigma, mu, sigma)
    # The terms are each ~tr Σ; what remains is rounding.
    assert abs(fid) < 1e-8 * np.trace(sigma)


def test_fid_of_diagonal_gaussians_has_closed_form():
    # Commuting covariances: tr √(Σ₁Σ₂) = Σ √(a_i b_i), so FID = ‖Δμ‖² + Σ (√a − √b)².
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 0.25])
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([3.0, -1.0, 2.0])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    fid = maths.frechet_distance(mu1, np.diag(a), mu2, np.diag(b))
    assert fid == pytest.approx(expected, rel=1e-12)


def test_fid_matches_the_symmetric_root_formula():
    # An independent route: tr √(Σ₁Σ₂) = tr √(Σ₁^½ Σ₂ Σ₁^½), from eigendecompositions.
    rng = np.random.default_rng(1)
    s1, s2 = _random_spd(rng, 12), _random_spd(rng, 12)
    mu1, mu2 = rng.normal(size=12), rng.normal(size=12)
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(w)) @ v.T
    inner = np.linalg.eigvalsh(root1 @ s2 @ root1)
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.sum(np.sqrt(inner))
    assert maths.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)


def test_non_finite_root_retries_with_offset(monkeypatch):
    calls = []
    real_sqrtm = maths._sqrtm_product

    def flaky(s1, s2):
        calls.append((s1.copy(), s2.copy()))
        if len(calls) == 1:
            return np.full_like(s1, np.inf)
        return real_sqrtm(s1, s2)

    monkeypatch.setattr(maths, "_sqrtm_product", flaky)
    s = np.diag([1.0, 2.0])
    fid = maths.frechet_distance(np.zeros(2), s, np.zeros(2), s)
    assert len(calls) == 2
    np.testing.assert_array_equal(calls[1][0], s + 1e-6 * np.eye(2))
    np.testing.assert_array_equal(calls[1][1], s + 1e-6 * np.eye(2))
    assert np.isfinite(fid)


def test_large_imaginary_part_warns_and_keeps_real_part():
    # Σ₂ with a negative eigenvalue makes √(Σ₁Σ₂) complex (imaginary diagonal 1).
    s1, s2 = np.eye(2), np.diag([-1.0, 1.0])
    with pytest.warns(RuntimeWarning, match="imaginary part"):
        fid = maths.frechet_distance(np.zeros(2), s1, np.zeros(2), s2)
    assert fid == pytest.approx(np.trace(s1) + np.trace(s2) - 2 * 1.0)


def test_small_imaginary_part_is_silent():
    rng = np.random.default_rng(2)
    s1, s2 = _random_spd(rng, 6), _random_spd(rng, 6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        maths.frechet_distance(np.zeros(6), s1, np.ones(6), s2)


def test_fid_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="different sizes"):
        maths.frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


def test_statistics_need_two_rows():
    with pytest.raises(ValueError, match="at least 2"):
        maths.activation_statistics(np.ones((1, 4)))


def _unit(theta):
    return np.array([np.cos(theta), np.sin(theta), 0.0])


@pytest.mark.parametrize("cos_sim, below", [(0.91, True), (0.89, False)])
def test_memorization_distance_on_both_sides_of_the_threshold(cos_sim, below):
    real = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 5.0]])
    generated = 3.0 * _unit(np.arccos(cos_sim))[None]
    d = maths.memorization_distance(generated, real)
    assert d == pytest.approx(1 - cos_sim, abs=1e-12)
    d_thr = maths.distance_threshold(d)
    assert d_thr == (d if below else 1.0)
    fid = 42.0
    assert maths.mifid(fid, d) == pytest.approx(fid / (d_thr + 1e-15))
    if not below:
        assert maths.mifid(fid, d) == pytest.approx(fid)


def test_memorization_uses_absolute_cosine_and_mean_of_minima():
    real = np.array([[1.0, 0.0], [0.0, 1.0]])
    # -real[0] is as close as real[0] (|cos| = 1); [1, 1] is 1 - 1/√2 from both.
    generated = np.array([[-2.0, 0.0], [1.0, 1.0]])
    expected = np.mean([0.0, 1 - 1 / np.sqrt(2)])
    assert maths.memorization_distance(generated, real) == pytest.approx(expected, abs=1e-12)


def test_copies_of_the_real_set_drive_distance_to_zero_and_mifid_up():
    rng = np.random.default_rng(3)
    real = np.abs(rng.normal(size=(50, 32)))
    fresh = np.abs(rng.normal(size=(50, 32)))
    copies = real + 1e-4 * np.abs(rng.normal(size=real.shape))
    d_fresh = maths.memorization_distance(fresh, real)
    d_copies = maths.memorization_distance(copies, real)
    assert d_copies < 1e-6 < d_fresh
    fid = 10.0
    assert maths.mifid(fid, d_copies) > 1e6 * maths.mifid(fid, d_fresh)


def test_zero_rows_are_left_out():
    real = np.array([[1.0, 0.0], [0.0, 0.0]])
    generated = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    # Kept, the zero rows would add distances of 1 and raise the mean above 0.
    assert maths.memorization_distance(generated, real) == pytest.approx(0.0, abs=1e-12)


def test_chunking_does_not_change_the_distance():
    rng = np.random.default_rng(4)
    generated, real = rng.normal(size=(37, 8)), rng.normal(size=(11, 8))
    whole = maths.memorization_distance(generated, real, chunk=1000)
    assert maths.memorization_distance(generated, real, chunk=5) == pytest.approx(whole, rel=1e-14)


def test_memorization_rejects_bad_shapes():
    with pytest.raises(ValueError, match="Received"):
        maths.memorization_distance(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="non-zero"):
        maths.memorization_distance(np.zeros((2, 3)), np.ones((2, 3)))
