"""Standard errors of the stochastic scores: binomial for accuracies, bootstrap over points.

A score computed from a random sample of points is itself random. Two kinds of error bar are
cheap enough to attach to every trial:

* an accuracy measured on n independent evaluation points (BetaVAE, FactorVAE, DCI's
  informativeness) has the binomial standard error  SE = sqrt(p (1 − p) / n);
* a statistic of n points with no closed form (MIG, SAP, the median blur radius) gets the
  bootstrap standard error: the standard deviation of the statistic recomputed on B resamples
  of the n points drawn with replacement (Efron & Tibshirani 1993, ch. 6).

Both describe the evaluation sample only; what the classifier learned from its training points
and, for pooled codes, which pool was drawn, add spread of their own (measured in
``benchmarks/metric_uncertainty.py``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from analysis.metrics._common import integers


def binomial_se(accuracy: float, n: int) -> float:
    """sqrt(p (1 − p) / n): the standard error of an accuracy p measured on n points."""
    if n < 1:
        raise ValueError(f"n: need at least one evaluation point, got {n}")
    return float(np.sqrt(max(accuracy * (1.0 - accuracy), 0.0) / n))


def bootstrap_se(statistic: Callable[[np.ndarray], float], n: int, rng, num_resamples: int = 100) -> float:
    """Bootstrap SE of ``statistic(rows)`` over ``n`` points: std (ddof 1) over resampled row sets.

    ``statistic`` receives an index array of length n (rows drawn with replacement) and returns
    the score recomputed on those rows.
    """
    return se_over_resamples(statistic, resample_rows(n, rng, num_resamples))


def resample_rows(n: int, rng, num_resamples: int = 100) -> list[np.ndarray]:
    """The row sets of a bootstrap over ``n`` points, drawn now: ``bootstrap_se`` is
    ``se_over_resamples(statistic, resample_rows(n, rng, B))`` and consumes ``rng`` the same way,
    so a metric can draw its resamples before a slow fit finishes and the stream moves on as if
    it had waited (the statistic never touches ``rng``)."""
    if num_resamples < 2 or n < 2:
        raise ValueError("bootstrap_se: needs at least 2 points and 2 resamples")
    return [integers(rng, n, n) for _ in range(num_resamples)]


def se_over_resamples(statistic: Callable[[np.ndarray], float], rows: list[np.ndarray]) -> float:
    """Std (ddof 1) of ``statistic`` over row sets from :func:`resample_rows`."""
    return float(np.std([statistic(r) for r in rows], ddof=1))
