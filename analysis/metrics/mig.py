"""Mutual Information Gap (Chen et al. 2018).

Each code dimension is discretised into ``num_bins`` equal-width bins over its observed range
(``np.histogram`` edges, as the reference does); I(z_j; v_k) is the plug-in mutual information of
the discretised code and the factor (natural log, the value ``sklearn.metrics.mutual_info_score``
gives), H(v_k) = I(v_k; v_k), and

    MIG = mean_k (I_(1),k − I_(2),k) / H(v_k)

with I_(1),k ≥ I_(2),k the two largest MIs of factor k over code dims. All code/factor pairs are
computed at once from joint histograms (``np.bincount`` on combined bin indices).

Range 0..1. Known biases: the plug-in MI estimate is biased upward with many bins and few points,
so even a perfect code scores just under 1; a code dimension that is constant has zero MI (one
bin). Factors with a single value (dSprites colour) have H = 0 and are skipped, as their gap is
undefined. With one code dimension the second-best MI is 0. The standard error
(:func:`mig_with_se`) is the bootstrap over points.
"""

from __future__ import annotations

import numpy as np

from analysis.metrics._common import check_codes_factors, varying
from analysis.metrics.uncertainty import bootstrap_se


def discretize(codes: np.ndarray, num_bins: int) -> np.ndarray:
    """Bin index (0..num_bins−1) of each value, per column, with equal-width bins over its range."""
    out = np.empty(codes.shape, dtype=np.int64)
    for j in range(codes.shape[1]):
        edges = np.histogram(codes[:, j], num_bins)[1]
        out[:, j] = np.digitize(codes[:, j], edges[:-1]) - 1
    return out


def _relabel(columns: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Map each column's values to 0..n_values−1; returns labels and the value counts."""
    out = np.empty(columns.shape, dtype=np.int64)
    sizes = []
    for j in range(columns.shape[1]):
        _, out[:, j] = np.unique(columns[:, j], return_inverse=True)
        sizes.append(int(out[:, j].max()) + 1)
    return out, sizes


def mutual_info_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Plug-in MI (nats) between every column of ``a`` and every column of ``b`` (discrete)."""
    a, a_sizes = _relabel(a)
    b, b_sizes = _relabel(b)
    n = a.shape[0]
    out = np.zeros((a.shape[1], b.shape[1]))
    for i, sa in enumerate(a_sizes):
        pa = np.bincount(a[:, i], minlength=sa) / n
        for k, sb in enumerate(b_sizes):
            joint = np.bincount(a[:, i] * sb + b[:, k], minlength=sa * sb).reshape(sa, sb) / n
            pb = joint.sum(axis=0)
            nz = joint > 0
            out[i, k] = np.sum(joint[nz] * np.log(joint[nz] / np.outer(pa, pb)[nz]))
    return np.maximum(out, 0.0)


def entropy(factors: np.ndarray) -> np.ndarray:
    """Plug-in entropy (nats) of each factor column."""
    out = []
    for k in range(factors.shape[1]):
        p = np.unique(factors[:, k], return_counts=True)[1] / factors.shape[0]
        out.append(float(-np.sum(p * np.log(p))))
    return np.asarray(out)


def _checked(codes, factors, num_bins: int) -> tuple[np.ndarray, np.ndarray]:
    codes, factors = check_codes_factors(codes, factors, "mig")
    if num_bins < 2:
        raise ValueError(f"num_bins: must be >= 2, got {num_bins}")
    keep = varying(factors)
    if keep.size == 0:
        raise ValueError("mig: every factor has a single value; MIG is undefined")
    return codes, factors[:, keep]


def _gap(codes: np.ndarray, factors: np.ndarray, num_bins: int) -> float:
    m = mutual_info_matrix(discretize(codes, num_bins), factors)
    top = np.sort(m, axis=0)[::-1]
    second = top[1] if top.shape[0] > 1 else np.zeros(top.shape[1])
    return float(np.mean((top[0] - second) / entropy(factors)))


def mig(codes, factors, num_bins: int = 20) -> float:
    """MIG of ``codes`` (n, d) against discrete ``factors`` (n, k)."""
    return _gap(*_checked(codes, factors, num_bins), num_bins)


def mig_with_se(codes, factors, rng, num_bins: int = 20, num_resamples: int = 100) -> tuple[float, float]:
    """(MIG, its bootstrap standard error over points: bins and MIs recomputed per resample)."""
    codes, factors = _checked(codes, factors, num_bins)

    def resampled(rows: np.ndarray) -> float:
        kept = [k for k in range(factors.shape[1]) if np.unique(factors[rows, k]).size > 1]
        return _gap(codes[rows], factors[rows][:, kept], num_bins)

    return _gap(codes, factors, num_bins), bootstrap_se(resampled, len(codes), rng, num_resamples)


def score(ctx, num_points: int) -> dict:
    """The scorer (:data:`analysis.catalogue.SCORERS`): MIG of ``num_points`` draws, with its SE."""
    factors, codes = ctx.sample(num_points)
    value, se = mig_with_se(codes, factors, ctx.rng, num_resamples=ctx.bootstrap)
    return {"mig": value, "mig_se": se}
