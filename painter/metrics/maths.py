"""MiFID's maths, line for line as Kaggle's metric computes it (numpy/scipy, float64).

Kaggle's scorer (the TTUR `fid.py` plus the memorization term of the dog/Monet
competitions):

    fid      = ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr √(Σ₁Σ₂)     (scipy.linalg.sqrtm)
    d        = mean over generated of min over real of (1 − |cos(f_gen, f_real)|)
    d_thr    = d if d < 0.1 else 1
    mifid    = fid / (d_thr + 1e-15)

Σ is `np.cov(features, rowvar=False)`; all-zero feature rows are left out of d; rows are
normalised with `nan_to_num(x / ‖x‖)`.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg

COSINE_DISTANCE_EPS = 0.1
MIFID_EPSILON = 1e-15
SQRTM_OFFSET = 1e-6
# Kaggle raises above this; painter warns and keeps the real part (see frechet_distance).
IMAGINARY_TOLERANCE = 1e-3


def activation_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(μ, Σ) of features (n, d) as Kaggle computes them: mean and `np.cov(rowvar=False)`.

    Raises:
        ValueError: fewer than 2 rows (Σ is undefined).
    """
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(
            f"need at least 2 feature rows for a covariance. Received: shape={features.shape}"
        )
    return np.mean(features, axis=0), np.cov(features, rowvar=False)


def _sqrtm_product(sigma1, sigma2):
    # scipy ≥ 1.16 deprecates `disp`; the plain call returns the root only, as Kaggle's
    # `sqrtm(…, disp=False)[0]` did.
    return scipy.linalg.sqrtm(sigma1.dot(sigma2))


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = SQRTM_OFFSET) -> float:
    """The Fréchet distance between N(μ₁, Σ₁) and N(μ₂, Σ₂), as Kaggle's metric.

    If √(Σ₁Σ₂) is not finite, `eps`·I is added to both covariances and the root taken
    again. A complex root keeps its real part. Kaggle's code raises when the diagonal's
    imaginary part exceeds 1e-3; painter warns instead (a RuntimeWarning naming the size),
    so a local score is still shown, and says so rather than drop it silently.

    Args:
        mu1, sigma1: statistics of the generated images.
        mu2, sigma2: statistics of the real images.
        eps: the diagonal offset. Default 1e-6.

    Returns:
        The FID, a float.

    Raises:
        ValueError: shapes that do not match.
    """
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(
            f"statistics of different sizes. Received: mu1={mu1.shape}, mu2={mu2.shape}, "
            f"sigma1={sigma1.shape}, sigma2={sigma2.shape}"
        )
    diff = mu1 - mu2
    covmean = _sqrtm_product(sigma1, sigma2)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = _sqrtm_product(sigma1 + offset, sigma2 + offset)
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=IMAGINARY_TOLERANCE):
            warnings.warn(
                f"sqrtm(Σ₁Σ₂) has an imaginary part up to {np.max(np.abs(covmean.imag)):.3g} "
                "on its diagonal; Kaggle's scorer would reject this; the real part is used",
                RuntimeWarning,
                stacklevel=2,
            )
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def frechet_distance_low_rank(generated: np.ndarray, mu_real, sigma_real) -> float:
    """Kaggle's FID of generated features (n, d) against (μ, Σ) of the real ones, computed
    through an n × n eigenproblem instead of `scipy.linalg.sqrtm` of a d × d matrix.

    With A = (features − μ) / √(n − 1), Σ_gen = AᵀA, and Σ_gen·Σ_real has the same
    non-zero eigenvalues as A·Σ_real·Aᵀ (symmetric, positive semi-definite), so
    tr √(Σ_gen Σ_real) = Σ √λᵢ of that n × n matrix. It is the same quantity as
    `frechet_distance` (agreement ~1e-6 relative on real pool_3 features:
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


def _normalize_rows(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.nan_to_num(x / np.linalg.norm(x, ord=2, axis=1, keepdims=True))


def memorization_distance(
    generated: np.ndarray, real: np.ndarray, chunk: int = 2048
) -> float:
    """Mean over generated images of the min over real images of 1 − |cos similarity|.

    Rows of all-zero features are dropped first, as in Kaggle's code. The (generated ×
    real) distance matrix is built `chunk` generated rows at a time, so memory stays
    bounded; the result is the same as Kaggle's one matmul (each row's min is its own).

    Args:
        generated: (n, d) features of the generated images.
        real: (m, d) features of the real images.
        chunk: generated rows per block. Default 2048.

    Raises:
        ValueError: an empty side after dropping zero rows, or different widths.
    """
    generated = np.asarray(generated, dtype=np.float64)
    real = np.asarray(real, dtype=np.float64)
    if generated.ndim != 2 or real.ndim != 2 or generated.shape[1] != real.shape[1]:
        raise ValueError(
            f"features must be (n, d) and (m, d). Received: generated={generated.shape}, "
            f"real={real.shape}"
        )
    generated = _normalize_rows(generated[np.sum(generated, axis=1) != 0])
    real = _normalize_rows(real[np.sum(real, axis=1) != 0])
    if len(generated) == 0 or len(real) == 0:
        raise ValueError("no non-zero feature rows to compare")
    mins = np.empty(len(generated))
    for start in range(0, len(generated), chunk):
        block = 1.0 - np.abs(np.matmul(generated[start : start + chunk], real.T))
        mins[start : start + chunk] = np.min(block, axis=1)
    return float(np.mean(mins))


def distance_threshold(distance: float, eps: float = COSINE_DISTANCE_EPS) -> float:
    """Kaggle's `distance_thresholding`: `distance` if below `eps` (default 0.1), else 1."""
    return distance if distance < eps else 1.0


def mifid(fid: float, distance: float, eps: float = COSINE_DISTANCE_EPS) -> float:
    """MiFID = FID / (d_thr + 1e-15), with d_thr = `distance_threshold(distance, eps)`."""
    return fid / (distance_threshold(distance, eps) + MIFID_EPSILON)
