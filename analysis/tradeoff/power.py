"""How many seeds a finding needs: the normal approximation of a two-sided test at level α with
the given power, on the seed-level standard deviation the study measured.

    n = ⌈((z_{1−α/2} + z_{power}) · σ_seed / |effect|)²⌉

σ_seed is the SD of one seed's contribution to the estimate (a per-seed slope, a per-seed
difference of type means), so the estimate's standard error with n seeds is σ_seed / √n. Where
no per-seed value exists (unpaired comparisons, the matched gap) σ_seed is recovered from the
bootstrap standard error over S seeds: σ_seed ≈ SE_boot · √S · √(S / (S − 1)) (the bootstrap
divides by S, not S − 1).
"""

from __future__ import annotations

import math
from statistics import NormalDist

ALPHA = 0.05
POWER = 0.8
#: Fewer seeds than this and no finding is tested (its verdict is ``not shown``).
MIN_SEEDS = 3

FORMULA = ("n = ⌈((z_{1−α/2} + z_{power}) · σ_seed / |effect|)²⌉ with α = 0.05 (two-sided, no "
           "multiplicity correction), power 0.8, σ_seed the SD over seeds of one seed's estimate; at least "
           f"{MIN_SEEDS}. A lower bound: Holm's correction, and a permutation test that is conservative (types "
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
