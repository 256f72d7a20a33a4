"""Gaussian total correlation of the codes (disentanglement_lib's unsupervised score).

The total correlation of a Gaussian fitted to the encoder means: the KL divergence between
N(0, Σ) and the product of its marginals N(0, diag Σ), ``½ (Σ_j log Σ_jj − log det Σ)`` (nats), with
Σ the sample covariance of the codes (``np.cov``, n − 1 in the denominator). 0 for uncorrelated
codes, growing as code dimensions share information; unsupervised (factors are not read). A constant
code dimension makes it undefined (inf or NaN), as in disentanglement_lib.
"""

from __future__ import annotations

import numpy as np

from analysis.metrics._common import check_codes


def code_covariance(codes) -> np.ndarray:
    """Sample covariance (d, d) of ``codes`` (n, d), points in rows (disentanglement_lib's ``np.cov(mus)``)."""
    codes = check_codes(codes, "covariance")
    if codes.shape[0] < 2:
        raise ValueError(f"covariance: needs at least 2 points, got {codes.shape[0]}")
    return np.atleast_2d(np.cov(codes, rowvar=False))


def gaussian_total_correlation(cov) -> float:
    """Total correlation (nats) of a Gaussian with covariance ``cov``."""
    cov = np.asarray(cov, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(0.5 * (np.sum(np.log(np.diag(cov))) - np.linalg.slogdet(cov)[1]))


def score(ctx, num_points: int) -> dict:
    """The scorer (:data:`analysis.catalogue.SCORERS`): on ``num_points`` draws of the code source."""
    _, codes = ctx.sample(num_points)
    return {"gaussian_total_correlation": gaussian_total_correlation(code_covariance(codes))}
