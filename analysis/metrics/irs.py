"""IRS, the Interventional Robustness Score (Suter et al. 2019), as disentanglement_lib computes it.

IRS asks how much a code dimension moves when every factor but its "parent" changes. Holding
factor f at value v (the points of the sample with v_f = v, i.e. the other factors intervened on),
the deviation of code dim j from its conditional mean E[z_j | v_f = v] is summarised by its
``diff_quantile`` quantile (the reference's default 0.99; 1.0 gives the paper's maximum, its EMPIDA
estimate). Averaged over the values of f (uniformly, not by group size) and
divided by the largest deviation of z_j from its overall mean, it gives

    IRS[j, f] = 1 − mean_v Q_q(|z_j − E[z_j | v_f = v]| over v_f = v) / max |z_j − E[z_j]|,

1 when z_j is a function of v_f alone, near 0 when fixing v_f leaves z_j as spread as before. The
score of dim j is max_f IRS[j, f] and

    IRS = Σ_j w_j max_f IRS[j, f] / Σ_j w_j,     w_j = max |z_j − E[z_j]|,

over the active dims (the reference's ``np.average(..., weights=max_deviations)``: weighted by
each dim's range, not a plain mean, so the score depends on how the dims are scaled relative to
each other). Inactive dims are those that are constant (peak-to-peak 0: the reference's variance 0,
robust to rounding); with none active IRS = 0. Factors are grouped after the reference's histogram
discretisation into ``factor_bins`` equal-width bins (20 by default; it merges neighbouring values
only for factors with more values than bins, e.g. dSprites orientation; ``None`` groups by the
exact value). Factors with a single value are skipped (they hold nothing fixed).

Returned names: ``irs`` (the reference's ``IRS``) and ``num_active_dims`` — the count of active
dims; the reference reports ``np.sum(active_mus)``, the sum of the active codes' values, not their
count. At most 1, usually in 0..1 (a deviation from a group's mean can exceed the overall maximum
deviation, by at most twice, only for strongly skewed dims). Known biases: a noise dim's q-quantile
deviation is below its maximum, by more for heavy tails, so Gaussian noise scores ≈ 0.3 (uniform
noise ≈ 0.01); with few points per group the 0.99 quantile is nearly the group's maximum; for
unbounded codes the normaliser (a sample maximum) grows with n, so IRS drifts with the sample size:
compare scores at one size.

Uncertainty (given ``rng``): ``irs_se``, the bootstrap over points (active dims, group means and
deviations recomputed per resample). The statistic rests on extremes, for which the bootstrap is
only approximate (it is inconsistent for a sample maximum); on a synthetic code with Gaussian noise
it matched the spread over independent samples (0.017 vs 0.020 at 400 points, 0.011 vs 0.009 at
3,200), with bounded noise it overstated it at 3,200 points (0.0013 vs 0.0008).
"""

from __future__ import annotations

import numpy as np

from analysis.metrics._common import check_codes_factors, varying
from analysis.metrics.mig import discretize
from analysis.metrics.uncertainty import bootstrap_se


def group_quantiles(values: np.ndarray, groups: np.ndarray, q: float) -> np.ndarray:
    """(G, d): per group 0..G−1 (each non-empty) the q-quantile of each column, interpolated
    linearly between order statistics as ``np.percentile`` does."""
    counts = np.bincount(groups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    ranked = values[np.argsort(groups, kind="stable")]
    for start, count in zip(starts, counts, strict=True):
        ranked[start:start + count].sort(axis=0)
    position = q * (counts - 1)
    lo = np.floor(position).astype(np.int64)
    hi = np.minimum(lo + 1, counts - 1)
    frac = (position - lo)[:, None]
    return ranked[starts + lo] * (1.0 - frac) + ranked[starts + hi] * frac


def irs_matrix(codes: np.ndarray, factors: np.ndarray, diff_quantile: float = 0.99) -> tuple[np.ndarray, np.ndarray]:
    """(IRS[j, f] for active codes × factors, max deviation w_j of each active code dim)."""
    active = codes[:, np.ptp(codes, axis=0) > 0]
    max_dev = np.max(np.abs(active - active.mean(axis=0)), axis=0)
    mean_dev = np.zeros((active.shape[1], factors.shape[1]))
    for f in range(factors.shape[1]):
        _, groups = np.unique(factors[:, f], return_inverse=True)
        counts = np.bincount(groups)
        means = np.zeros((counts.size, active.shape[1]))
        np.add.at(means, groups, active)
        deviation = np.abs(active - (means / counts[:, None])[groups])
        mean_dev[:, f] = group_quantiles(deviation, groups, diff_quantile).mean(axis=0)
    return 1.0 - mean_dev / max_dev[:, None], max_dev


def _score(codes: np.ndarray, factors: np.ndarray, diff_quantile: float) -> tuple[float, int]:
    kept = factors[:, varying(factors)]
    matrix, weight = irs_matrix(codes, kept, diff_quantile)
    if weight.size == 0:
        return 0.0, 0
    return float(np.average(matrix.max(axis=1), weights=weight)), int(weight.size)


def _checked(codes, factors, diff_quantile, factor_bins):
    codes, factors = check_codes_factors(codes, factors, "irs")
    if not 0.0 <= diff_quantile <= 1.0:
        raise ValueError(f"diff_quantile: must be in [0, 1], got {diff_quantile}")
    if factor_bins is not None:
        if factor_bins < 2:
            raise ValueError(f"factor_bins: must be >= 2 or None, got {factor_bins}")
        factors = discretize(factors.astype(np.float64), factor_bins)
    if varying(factors).size == 0:
        raise ValueError("irs: every factor has a single value; IRS is undefined")
    return codes, factors


def irs(codes, factors, rng=None, diff_quantile: float = 0.99, factor_bins: int | None = 20,
        num_resamples: int = 100) -> dict:
    """IRS of ``codes`` (n, d) against discrete ``factors`` (n, k): ``irs``, ``num_active_dims`` and,
    given ``rng``, ``irs_se`` (bootstrap over points)."""
    codes, factors = _checked(codes, factors, diff_quantile, factor_bins)
    score, active = _score(codes, factors, diff_quantile)
    out = {"irs": score, "num_active_dims": active}
    if rng is not None:
        out["irs_se"] = bootstrap_se(lambda rows: _score(codes[rows], factors[rows], diff_quantile)[0],
                                     len(codes), rng, num_resamples)
    return out


def score(ctx, num_points: int) -> dict:
    """The scorer (:data:`analysis.catalogue.SCORERS`): IRS of ``num_points`` draws, with its SE."""
    factors, codes = ctx.sample(num_points)
    r = irs(codes, factors, rng=ctx.rng, num_resamples=ctx.bootstrap)
    return {"irs": r["irs"], "irs_se": r["irs_se"], "irs_active_dims": float(r["num_active_dims"])}
