"""Gaussian Wasserstein correlation of the codes (disentanglement_lib's unsupervised score).

The squared 2-Wasserstein distance between N(0, Σ), fitted to the encoder means, and the product of
its marginals N(0, D), D = diag Σ: ``2 tr Σ − 2 tr (DΣ)^½`` (disentanglement_lib computes
``sqrtm(cov * diag(cov)[:, None])``). ``tr (DΣ)^½`` is computed here as the sum of the square roots
of the eigenvalues of the symmetric D^½ Σ D^½ (the same spectrum), without scipy. The normalised
form divides by tr Σ, the codes' total variance (a fraction in [0, 2), free of the codes' scale).
0 for uncorrelated codes; unsupervised (factors are not read).
"""

from __future__ import annotations

import numpy as np

from analysis.metrics.total_correlation import code_covariance


def gaussian_wasserstein_correlation(cov) -> float:
    """Squared W2 distance between N(0, ``cov``) and N(0, diag ``cov``)."""
    cov = np.asarray(cov, dtype=np.float64)
    root = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    eigenvalues = np.linalg.eigvalsh(root[:, None] * cov * root[None, :])
    return float(2 * np.trace(cov) - 2 * np.sum(np.sqrt(np.clip(eigenvalues, 0.0, None))))


def score(ctx, num_points: int) -> dict:
    """The scorer (:data:`analysis.catalogue.SCORERS`): on ``num_points`` draws of the code source."""
    _, codes = ctx.sample(num_points)
    cov = code_covariance(codes)
    value = gaussian_wasserstein_correlation(cov)
    return {"gaussian_wasserstein_correlation": value,
            "gaussian_wasserstein_correlation_norm": value / float(np.trace(cov))}
