"""How many seeds a finding needs: the normal approximation of a two-sided test at level α with
the given power, on the seed-level standard deviation the study measured.

    n = ⌈((z_{1−α/2} + z_{power}) · σ_seed / |effect|)²⌉

σ_seed is the SD of one seed's contribution to the estimate (a per-seed slope, a per-seed
difference of type means), so the estimate's standard error with n seeds is σ_seed / √n. Where
no per-seed value exists (unpaired comparisons, the matched gap) σ_seed is recovered from the
bootstrap standard error over S seeds: σ_seed ≈ SE_boot · √S · √(S / (S − 1)) (the bootstrap
divides by S, not S − 1).

A permutation test has a resolution as well: with A distinct within-seed arrangements it cannot
return p below 1/A (two trials of one seed, a paired design, give A = 2^S). So a finding also needs
the seeds S with A(S) ≥ m/α, m its Holm family's size: however large the effect, fewer cannot show it.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

ALPHA = 0.05
POWER = 0.8
#: Fewer seeds than this and no finding is tested (its verdict is ``not shown``).
MIN_SEEDS = 3

FORMULA = ("n = ⌈((z_{1−α/2} + z_{power}) · σ_seed / |effect|)²⌉ with α = 0.05 (two-sided, no "
           "multiplicity correction), power 0.8, σ_seed the SD over seeds of one seed's estimate; at least "
           f"{MIN_SEEDS}, and at least the seeds whose within-seed arrangements let the permutation test reach "
           "the Holm level of the finding's family (p ≥ 1/arrangements: a paired design of two trials per seed "
           "has 2^S). A lower bound: Holm's later steps, and a permutation test that is conservative (types "
           "whose configurations differ among themselves), need more; and σ_seed from 3 seeds is itself rough")


def seeds_needed(effect: float, seed_sd: float, alpha: float = ALPHA, power: float = POWER) -> int | None:
    """Seeds to show ``effect`` (two-sided level ``alpha``, ``power``) when one seed's estimate
    varies with SD ``seed_sd``; None when either is unknown or the effect is 0."""
    if not (math.isfinite(effect) and math.isfinite(seed_sd)) or effect == 0:
        return None
    z = NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(power)
    return max(MIN_SEEDS, math.ceil((z * seed_sd / abs(effect)) ** 2))


def sd_from_bootstrap(standard_error: float, n_seeds: int) -> float:
    """σ_seed from the bootstrap SE over ``n_seeds`` seeds: SE · √S · √(S / (S − 1))."""
    if n_seeds < 2 or not math.isfinite(standard_error):
        return float("nan")
    return standard_error * math.sqrt(n_seeds) * math.sqrt(n_seeds / (n_seeds - 1))


def arrangements(codes, labels) -> float:
    """Distinct arrangements of ``labels`` when permuted only among the trials of one seed
    (``codes``): Π over seeds of the multinomial n_s! / Π_v m_{s,v}!."""
    codes, labels = np.asarray(codes), np.asarray(labels)
    log_total = 0.0
    for seed in np.unique(codes):
        _, counts = np.unique(labels[codes == seed], return_counts=True)
        log_total += math.lgamma(counts.sum() + 1) - sum(math.lgamma(c + 1) for c in counts)
    total = math.exp(min(log_total, 700.0))
    return float(round(total)) if total < 1e15 else total  # a count: exact while it fits


def smallest_p(n_arrangements: float, draws: int) -> float:
    """The smallest p a permutation test over ``n_arrangements`` (``draws`` random ones) returns."""
    return max(1.0 / n_arrangements, 1.0 / (1 + draws)) if n_arrangements >= 1 else math.nan


def seeds_for_resolution(n_arrangements: float, n_seeds: int, level: float) -> int | None:
    """Seeds whose arrangements reach ``level`` (1/A ≤ level), at this design's arrangements per
    seed (the geometric mean over its ``n_seeds``); None when a seed has a single arrangement."""
    if n_seeds < 1 or n_arrangements <= 1 or not level > 0:
        return None
    per_seed = n_arrangements ** (1.0 / n_seeds)
    return max(1, math.ceil(math.log(1.0 / level) / math.log(per_seed) - 1e-9))
