"""The findings of a tradeoff analysis: trends of each metric over each hyperparameter of a model
type, and pairwise comparisons of model types (overall and at matched reconstruction), each with a
bootstrap interval over seeds, a permutation p, a verdict by the fixed rule and the seeds it needs.

The rule (:data:`RULE`): a finding is shown when its 95% interval excludes 0 and its permutation p
is at most the Holm-corrected level within its family (:func:`family_of`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.tradeoff import power, stats, table

TREND, COMPARE = "trend", "compare"
INCREASES, DECREASES, HIGHER, LOWER, NOT_SHOWN = "increases", "decreases", "higher", "lower", "not shown"
MIN_LEVELS = 3
#: Below this share of seed resamples in which a comparison is defined (fronts that overlap), it is not tested.
MIN_DEFINED = 0.8
WITHIN_SEED, PLAIN = "within-seed permutation", "permutation"
RESIDUALS_WITHIN_SEED, RESIDUALS = "within-seed residual permutation", "residual permutation"
RULE = ("A finding is shown when its 95% bootstrap interval over seeds excludes 0 and its permutation p "
        "is at most the Holm-corrected 0.05 level within its family. Families: the trends of one metric "
        "(every model type and hyperparameter); the overall comparisons of one metric (every pair of model "
        "types); the matched-reconstruction comparisons of one metric. Findings not tested (too few seeds or "
        "levels) are outside their family.")


@dataclass(frozen=True)
class Settings:
    """Resampling sizes, the level, and the random seed that makes an analysis repeatable."""

    bootstrap: int = 2000
    permutations: int = 2000
    matched_draws: int = 500
    """Bootstrap and permutation draws of a matched comparison (each redraws two fronts)."""
    alpha: float = power.ALPHA
    min_seeds: int = power.MIN_SEEDS
    min_levels: int = MIN_LEVELS
    random_seed: int = 0


@dataclass
class Finding:
    """One trend or comparison, as tradeoff.json lists it."""

    finding: str
    metric: str
    direction: str
    model_type: str | None = None
    hyperparameter: str | None = None
    a: str | None = None
    b: str | None = None
    matched: str | None = None
    estimate: float = math.nan
    ci: tuple[float, float] = (math.nan, math.nan)
    p: float = math.nan
    p_holm: float = math.nan
    family: str = ""
    verdict: str = NOT_SHOWN
    reason: str | None = None
    n_trials: int = 0
    n_excluded: int = 0
    """Trials left out because the metric (or the matched axis) is NaN, e.g. a collapsed trial's blur."""
    n_seeds: int = 0
    test: str = ""
    unit: str = ""
    rho: float | None = None
    seed_sd: float = math.nan
    seeds_needed: int | None = None
    min_p: float = math.nan
    """The smallest p the permutation test can give on this design (1 / its arrangements)."""
    arrangements: float = math.nan
    limit: str | None = None
    """Why a tested finding could not be shown whatever its effect (the test's resolution), if so."""

    @property
    def tested(self) -> bool:
        return self.reason is None and math.isfinite(self.p)


def _seeds(rows: pd.DataFrame) -> np.ndarray:
    return rows[table.SEED].to_numpy() if table.SEED in rows.columns else np.full(len(rows), np.nan)


def _too_few(n_seeds: int, n_levels: int | None, settings: Settings) -> str | None:
    if n_seeds < settings.min_seeds:
        return f"{n_seeds} seed(s): a finding needs at least {settings.min_seeds}"
    if n_levels is not None and n_levels < settings.min_levels:
        return f"{n_levels} value(s) of the hyperparameter: a trend needs at least {settings.min_levels}"
    return None


def trend(frame: pd.DataFrame, model_type: str, knob: str, metric: str, sense: str, settings: Settings,
          rng: np.random.Generator) -> Finding:
    """The trend of ``metric`` over ``knob`` among ``model_type``'s trials: slope of the level means
    per doubling of the knob (per unit if it takes values ≤ 0), Spearman ρ over the trials."""
    rows = frame[(frame[table.MODEL_TYPE] == model_type) & frame[knob].notna()]
    y_all = table.values(rows, metric)
    rows, y = rows[np.isfinite(y_all)], y_all[np.isfinite(y_all)]
    raw = table.values(rows, knob)
    doubling = bool(len(raw)) and bool((raw > 0).all())
    x = np.log2(raw) if doubling else raw
    codes, n_seeds = stats.seed_codes(_seeds(rows))
    shared = table.seeds_shared(pd.Series(_seeds(rows)), pd.Series(raw))
    found = Finding(TREND, metric, sense, model_type=model_type, hyperparameter=knob, n_trials=len(rows),
                    n_excluded=int((~np.isfinite(y_all)).sum()), n_seeds=n_seeds,
                    test=WITHIN_SEED if shared else PLAIN, unit=f"per doubling of {knob}" if doubling
                    else f"per unit of {knob}")
    if len(rows) < 2:
        found.reason = f"{len(rows)} trial(s) with a {metric}"
        return found
    found.rho = stats.spearman(x, y)
    found.estimate = float(stats.level_slopes(x, y, np.ones((1, len(y))))[0])
    boot = stats.level_slopes(x, y, stats.bootstrap_weights(codes, n_seeds, rng, settings.bootstrap))
    found.ci = stats.interval(boot)
    per_seed = stats.level_slopes(x, y, np.eye(n_seeds)[:, codes]) if shared else np.array([])
    per_seed = per_seed[np.isfinite(per_seed)]
    found.seed_sd = (float(np.std(per_seed, ddof=1)) if len(per_seed) >= 2
                     else power.sd_from_bootstrap(float(np.nanstd(boot)), n_seeds))
    found.seeds_needed = power.seeds_needed(found.estimate, found.seed_sd, settings.alpha)
    found.reason = _too_few(n_seeds, len(np.unique(x)), settings)
    if found.reason is None:
        perm_codes = codes if shared else np.zeros_like(codes)
        found.p = stats.trend_pvalue(x, y, perm_codes, rng, settings.permutations)
        _resolution(found, power.arrangements(perm_codes, x), settings.permutations)
    return found


def _resolution(found: Finding, n_arrangements: float, draws: int) -> None:
    found.arrangements = n_arrangements
    found.min_p = power.smallest_p(n_arrangements, draws)


def compare(frame: pd.DataFrame, a: str, b: str, metric: str, sense: str, settings: Settings,
            rng: np.random.Generator, matched: str | None = None) -> Finding:
    """``a`` − ``b`` on ``metric``: paired by seed when seeds are shared (mean over seeds of the
    per-seed difference of the type means), else the difference of means, p by permuting the type
    labels among each seed's trials (conservative when a type's configurations differ among
    themselves: a null of equal means, not of equal distributions); with ``matched`` the gap
    between their seed-mean fronts at equal ``matched`` (:func:`stats.matched_gap`), p by
    :func:`stats.matched_pvalue`."""
    rows = frame[frame[table.MODEL_TYPE].isin([a, b])]
    y_all = table.values(rows, metric)
    keep = np.isfinite(y_all) & (np.isfinite(table.values(rows, matched)) if matched else True)
    rows, y = rows[keep], y_all[keep]
    in_a = (rows[table.MODEL_TYPE] == a).to_numpy()
    codes, n_seeds = stats.seed_codes(_seeds(rows))
    shared = table.seeds_shared(pd.Series(_seeds(rows)), rows[table.MODEL_TYPE])
    found = Finding(COMPARE, metric, sense, a=a, b=b, matched=matched, n_trials=len(rows),
                    n_excluded=int((~keep).sum()), n_seeds=n_seeds, test=WITHIN_SEED if shared else PLAIN,
                    unit=f"{a} − {b}" + (f" at equal {matched}" if matched else ""))
    if in_a.all() or not in_a.any():
        found.reason = f"no trial of {b if in_a.all() else a} with a {metric}"
        return found
    if matched:
        recon, config = table.values(rows, matched), pd.factorize(table.config_keys(rows))[0]
        draws = settings.matched_draws

        def statistic(labels, weights):
            return stats.matched_gap(recon, y, config, labels, weights, sense)

        def test(perm_codes, n):  # residuals permuted within seeds around a curve common to both types
            return stats.matched_pvalue(recon, y, config, in_a, perm_codes, sense, rng, n)
        found.test = RESIDUALS_WITHIN_SEED if shared else RESIDUALS
    else:
        draws = settings.bootstrap

        def statistic(labels, weights):
            if shared:
                return stats.paired_difference(y, labels, codes, n_seeds, weights)
            return stats.unpaired_difference(y, labels, weights)

        def test(perm_codes, n):  # type labels permuted within seeds
            order = stats.within_seed_permutations(perm_codes, rng, n)
            observed = float(statistic(in_a[None, :], np.ones((1, len(in_a))))[0])
            return stats.permutation_pvalue(observed, statistic(in_a[order], np.ones(order.shape)))
    _estimate(found, (statistic, test), in_a, codes, n_seeds, shared, settings, rng, draws)
    return found


def _estimate(found: Finding, statistics, in_a, codes, n_seeds, shared, settings, rng, draws) -> None:
    """Fill a comparison's estimate, interval, seed SD, seeds needed and (when tested) its p;
    ``statistics`` is (the estimate's statistic, the test: (seed codes, permutations) → p)."""
    statistic, test = statistics
    found.estimate = float(statistic(in_a[None, :], np.ones((1, len(in_a))))[0])
    if not math.isfinite(found.estimate):
        found.reason = (f"the seed-mean fronts of {found.a} and {found.b} share no {found.matched} range"
                        if found.matched else "no seed has trials of both types")
        return
    strata = None if shared else np.bincount(codes, weights=in_a, minlength=n_seeds) > 0
    weights = stats.bootstrap_weights(codes, n_seeds, rng, draws, strata=strata)
    boot = statistic(np.broadcast_to(in_a, weights.shape), weights)
    defined = float(np.isfinite(boot).mean())
    if defined < MIN_DEFINED:
        found.reason = (f"defined in only {defined:.0%} of seed resamples (the fronts overlap in "
                        f"{found.matched} for some seeds only)" if found.matched
                        else f"defined in only {defined:.0%} of seed resamples")
        return
    found.ci = stats.interval(boot)
    per_seed = (statistic(np.broadcast_to(in_a, (n_seeds, len(in_a))), np.eye(n_seeds)[:, codes])
                if shared and not found.matched else np.array([]))
    per_seed = per_seed[np.isfinite(per_seed)]
    found.seed_sd = (float(np.std(per_seed, ddof=1)) if len(per_seed) >= 2
                     else power.sd_from_bootstrap(float(np.nanstd(boot)), n_seeds))
    found.seeds_needed = power.seeds_needed(found.estimate, found.seed_sd, settings.alpha)
    found.reason = _too_few(n_seeds, None, settings)
    if found.reason is None:
        perm_codes = codes if shared else np.zeros_like(codes)
        found.p = test(perm_codes, draws)
        permuted = np.arange(len(in_a)) if found.matched else in_a  # residuals, or the type labels
        _resolution(found, power.arrangements(perm_codes, permuted), draws)


def family_of(found: Finding) -> str:
    """The family a finding's Holm correction runs over (see :data:`RULE`)."""
    if found.finding == TREND:
        return f"trends of {found.metric}"
    return f"comparisons of {found.metric}" + (f" at matched {found.matched}" if found.matched else "")


def decide(findings: list[Finding], alpha: float = power.ALPHA) -> None:
    """Holm within each family, then each verdict by :data:`RULE` (in place)."""
    for found in findings:
        found.family = family_of(found)
    for family in {f.family for f in findings}:
        members = [f for f in findings if f.family == family and f.tested]
        adjusted, _ = stats.holm([f.p for f in members], alpha)
        for found, p_holm in zip(members, adjusted, strict=True):
            found.p_holm = float(p_holm)
            _resolvable(found, alpha / len(members))
    for found in findings:
        found.verdict = verdict(found, alpha)


def _resolvable(found: Finding, level: float) -> None:
    """Raise a finding's seeds needed to those its permutation test needs to reach ``level`` (the
    first Holm step of its family), the design's arrangements per seed kept."""
    need = power.seeds_for_resolution(found.arrangements, found.n_seeds, level)
    if need is not None and found.seeds_needed is not None:
        found.seeds_needed = max(found.seeds_needed, need)
    if found.min_p > level:
        found.limit = (f"this design's smallest p, {found.min_p:.2g}, is above the first Holm level "
                       f"{level:.2g}" + (f": {need} seeds reach it" if need else ""))


def verdict(found: Finding, alpha: float = power.ALPHA) -> str:
    """increases/decreases (trend) or higher/lower (a relative to b) when the interval excludes 0
    and the Holm-adjusted p ≤ α; else not shown (with a reason if the finding was not tested or
    what failed)."""
    if not found.tested:
        return NOT_SHOWN
    lo, hi = found.ci
    up, down = lo > 0, hi < 0
    if (up or down) and found.p_holm <= alpha:
        if found.finding == TREND:
            return INCREASES if up else DECREASES
        return HIGHER if up else LOWER
    return NOT_SHOWN
