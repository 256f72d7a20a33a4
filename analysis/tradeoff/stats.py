"""The statistics of a tradeoff study (pure numpy): rank correlation, Holm's step-down, the seed
bootstrap, within-seed permutations, and the three statistics the findings test (a trend's slope,
a paired difference of two model types, and their gap at matched reconstruction).

Every resampling function works on a whole batch at once: a bootstrap resample is a row of per-trial
weights (how often the trial's seed was drawn), a permutation is a row of per-trial values; the
statistics take the (rows × trials) matrix and return one value per row.
"""

from __future__ import annotations

import numpy as np

from analysis.pareto import non_dominated_mask


def ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (1-based; ties share the mean of their ranks), as Spearman's ρ needs."""
    values = np.asarray(values, dtype=float)
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    out = np.empty(len(values))
    start = 0
    for end in range(1, len(values) + 1):
        if end == len(values) or sorted_values[end] != sorted_values[start]:
            out[order[start:end]] = (start + end + 1) / 2.0
            start = end
    return out


def spearman(x, y) -> float:
    """Spearman's ρ: the Pearson correlation of the ranks (NaN if either side is constant)."""
    rx, ry = ranks(x), ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denominator = np.sqrt((rx ** 2).sum() * (ry ** 2).sum())
    return float((rx * ry).sum() / denominator) if denominator > 0 else float("nan")


def holm(pvalues, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Holm's step-down over one family: (adjusted p, rejected). With p sorted ascending, p_(i) is
    compared with α/(m − i) (i = 0…m−1) and testing stops at the first failure; the adjusted p is
    max_{j≤i} min(1, (m − j)·p_(j)), so rejected ⇔ adjusted p ≤ α. NaN p-values are left out."""
    p = np.asarray(pvalues, dtype=float)
    adjusted = np.full(len(p), np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    m = len(tested)
    running = 0.0
    for i, k in enumerate(tested[np.argsort(p[tested], kind="stable")]):
        running = max(running, min(1.0, (m - i) * p[k]))
        adjusted[k] = running
    return adjusted, np.nan_to_num(adjusted, nan=np.inf) <= alpha


def seed_codes(seeds) -> tuple[np.ndarray, int]:
    """Seed values → codes 0…S−1 and S (a missing seed makes the trial its own unit)."""
    values = [("trial", i) if s is None or s != s else ("seed", s) for i, s in enumerate(seeds)]
    lookup: dict = {}
    codes = np.array([lookup.setdefault(v, len(lookup)) for v in values], dtype=int)
    return codes, len(lookup)


def bootstrap_weights(codes: np.ndarray, n_seeds: int, rng: np.random.Generator, draws: int,
                      strata: np.ndarray | None = None) -> np.ndarray:
    """(draws × trials) weights of the seed bootstrap: S seeds drawn with replacement, each trial
    weighted by how often its own seed was drawn, so a seed's trials stay together. With ``strata``
    (a stratum per seed code) the seeds are drawn within each stratum, keeping its size."""
    strata = np.zeros(n_seeds, dtype=int) if strata is None else np.asarray(strata)
    counts = np.zeros((draws, n_seeds))
    for stratum in np.unique(strata):
        members = np.flatnonzero(strata == stratum)
        picks = members[rng.integers(0, len(members), size=(draws, len(members)))]
        for column in range(len(members)):
            np.add.at(counts, (np.arange(draws), picks[:, column]), 1.0)
    return counts[:, codes]


def within_seed_permutations(codes: np.ndarray, rng: np.random.Generator, draws: int) -> np.ndarray:
    """(draws × trials) index rows, each a permutation of the trials that moves a trial only among
    the trials of its own seed (a single code for every trial: a plain permutation). Sorting the
    seed code plus a uniform number in [0, 1) shuffles within blocks of equal code."""
    order = np.argsort(codes, kind="stable")
    keys = codes[order][None, :] + rng.random((draws, len(codes)))
    return order[np.argsort(keys, axis=1)][:, np.argsort(order)]


def level_slopes(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per weight row, the OLS slope of the level means of y on x: each distinct x is one point,
    its mean ȳ_L = Σ w·y / Σ w over its trials, and slope = Σ (x_L − x̄)(ȳ_L − ȳ̄) / Σ (x_L − x̄)²
    over the levels present in the row (NaN with fewer than two)."""
    levels, level_of = np.unique(x, return_inverse=True)
    onehot = np.eye(len(levels))[level_of]
    weight = weights @ onehot
    with np.errstate(invalid="ignore", divide="ignore"):
        means = (weights * y) @ onehot / weight
    present = weight > 0
    count = present.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        x_bar = (present * levels).sum(axis=1) / count
        y_bar = np.where(present, means, 0.0).sum(axis=1) / count
        dx = np.where(present, levels - x_bar[:, None], 0.0)
        dy = np.where(present, means - y_bar[:, None], 0.0)
        slope = (dx * dy).sum(axis=1) / (dx ** 2).sum(axis=1)
    return np.where(count >= 2, slope, np.nan)


def centred(y: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """y minus the mean of its seed's trials (what a within-seed test compares)."""
    sums = np.bincount(codes, weights=y)
    return y - (sums / np.bincount(codes))[codes]


def trend_pvalue(x: np.ndarray, y: np.ndarray, codes: np.ndarray, rng: np.random.Generator,
                 draws: int) -> float:
    """Two-sided permutation p of the pooled within-seed slope T = Σ x_i (y_i − ȳ_seed(i)): x is
    permuted among the trials of each seed (pass one code for all for a plain permutation). The
    seed's own level, common to its trials, cancels in T, so common random numbers do not blur the
    test. p = (1 + #{|T_perm| ≥ |T_obs|}) / (1 + draws)."""
    yc = centred(y, codes)
    observed = abs(float(x @ yc))
    permuted = np.abs(x[within_seed_permutations(codes, rng, draws)] @ yc)
    return float((1 + np.sum(permuted >= observed * (1 - 1e-12))) / (1 + draws))


def paired_difference(y: np.ndarray, in_a: np.ndarray, codes: np.ndarray, n_seeds: int,
                      weights: np.ndarray) -> np.ndarray:
    """Per row, the mean over seeds of (mean of a's trials − mean of b's) within the seed, seeds
    weighted by the row's draw counts; only seeds with trials of both types count.
    ``in_a`` is (rows × trials) booleans: trial is of type a (else b)."""
    onehot = np.eye(n_seeds)[codes]
    a, b = weights * in_a, weights * ~in_a
    with np.errstate(invalid="ignore", divide="ignore"):
        diff = (a * y) @ onehot / (a @ onehot) - (b * y) @ onehot / (b @ onehot)
        seed_weight = weights @ onehot / np.maximum(onehot.sum(axis=0), 1)
        seed_weight = np.where(np.isfinite(diff), seed_weight, 0.0)
        return (np.where(np.isfinite(diff), diff, 0.0) * seed_weight).sum(axis=1) / seed_weight.sum(axis=1)


def unpaired_difference(y: np.ndarray, in_a: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per row, the weighted mean of a's trials minus that of b's."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return ((weights * in_a) @ y / (weights * in_a).sum(axis=1)
                - (weights * ~in_a) @ y / (weights * ~in_a).sum(axis=1))


def front_curve(recon: np.ndarray, score: np.ndarray, sense: str) -> tuple[np.ndarray, np.ndarray]:
    """The seed-mean front of one type: its non-dominated (recon ↓, score in ``sense``) points,
    sorted by recon (the curve the matched comparison interpolates along)."""
    keep = non_dominated_mask(np.column_stack([recon, score]), ["min", sense])
    order = np.argsort(recon[keep], kind="stable")
    return recon[keep][order], score[keep][order]


def matched_gap(recon: np.ndarray, score: np.ndarray, config: np.ndarray, in_a: np.ndarray,
                weights: np.ndarray, sense: str, grid: int = 25) -> np.ndarray:
    """Per row, type a's score minus type b's at matched reconstruction: each type's configurations
    are reduced to their weighted seed means of (recon, score), its front of those means is taken
    (:func:`front_curve`) and read by linear interpolation at ``grid`` recon values spanning the
    overlap [max(min_a, min_b), min(max_a, max_b)] of the two fronts' recon ranges; the gap is the
    mean of score_a(r) − score_b(r) there (a single shared point if the overlap is one value; NaN
    if the ranges do not overlap). ``score`` is one value per trial, or one row per weight row."""
    n_config = int(config.max()) + 1
    scores = np.broadcast_to(score, weights.shape)
    out = np.full(len(weights), np.nan)
    for row in range(len(weights)):
        curves = []
        for side in (in_a[row], ~in_a[row]):
            w = weights[row] * side
            total = np.bincount(config, weights=w, minlength=n_config)
            present = total > 0
            if not present.any():
                break
            mean_r = np.bincount(config, weights=w * recon, minlength=n_config)[present] / total[present]
            mean_s = np.bincount(config, weights=w * scores[row], minlength=n_config)[present] / total[present]
            curves.append(front_curve(mean_r, mean_s, sense))
        if len(curves) < 2:
            continue
        lo = max(curves[0][0][0], curves[1][0][0])
        hi = min(curves[0][0][-1], curves[1][0][-1])
        if lo > hi:
            continue
        at = np.linspace(lo, hi, grid)
        out[row] = float(np.mean(np.interp(at, *curves[0]) - np.interp(at, *curves[1])))
    return out


def matched_pvalue(recon: np.ndarray, score: np.ndarray, config: np.ndarray, in_a: np.ndarray, codes: np.ndarray,
                   sense: str, rng: np.random.Generator, draws: int) -> float:
    """Two-sided p of the matched gap by permuting residuals within seeds (Freedman & Lane 1983):
    recon and score are centred within each seed (the seed's own level out), one curve common to
    both types, score ≈ c₀ + c₁·recon + c₂·recon² (degree ≤ 2, fewer for fewer distinct recon
    values), is fitted to all trials, and the residuals are permuted among each seed's trials and
    added back; the types' labels and recon values stay. Under "no gap" every type lies on the
    common curve, so the permuted data are as likely as the observed."""
    recon_c, score_c = centred(recon, codes), centred(score, codes)
    degree = min(2, len(np.unique(recon_c)) - 1)
    fitted = np.polyval(np.polyfit(recon_c, score_c, degree), recon_c) if degree >= 1 else np.full_like(
        score_c, score_c.mean())
    residual = score_c - fitted
    observed = matched_gap(recon_c, score_c, config, in_a[None, :], np.ones((1, len(score))), sense)[0]
    rows = fitted[None, :] + residual[within_seed_permutations(codes, rng, draws)]
    labels = np.broadcast_to(in_a, rows.shape)
    return permutation_pvalue(observed, matched_gap(recon_c, rows, config, labels, np.ones(rows.shape), sense))


def interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The percentile interval of the finite bootstrap values (NaN, NaN if none)."""
    finite = samples[np.isfinite(samples)]
    if not len(finite):
        return float("nan"), float("nan")
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(finite, [tail, 100 - tail])
    return float(lo), float(hi)


def permutation_pvalue(observed: float, permuted: np.ndarray) -> float:
    """Two-sided p of ``observed`` against its permutation values: (1 + #{|T| ≥ |T_obs|}) / (1 + n)."""
    finite = permuted[np.isfinite(permuted)]
    if not np.isfinite(observed) or not len(finite):
        return float("nan")
    return float((1 + np.sum(np.abs(finite) >= abs(observed) * (1 - 1e-12))) / (1 + len(finite)))
