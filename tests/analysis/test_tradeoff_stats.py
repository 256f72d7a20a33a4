"""The tradeoff analysis's pure statistics against independent oracles (scipy, hand loops)."""

import math
from statistics import NormalDist

import numpy as np
import pytest
from scipy import stats as sps

from analysis.tradeoff import power, stats


def test_spearman_and_ranks_match_scipy_with_ties():
    rng = np.random.default_rng(1)
    for _ in range(50):
        x = rng.integers(0, 5, size=12).astype(float)  # many ties
        y = x * rng.normal() + rng.normal(size=12)
        np.testing.assert_allclose(stats.ranks(y), sps.rankdata(y))
        if np.ptp(x) > 0:
            assert stats.spearman(x, y) == pytest.approx(sps.spearmanr(x, y).statistic, abs=1e-12)
    assert math.isnan(stats.spearman([1, 1, 1], [1, 2, 3]))


def _holm_loop(p, alpha):
    order = sorted(range(len(p)), key=lambda i: p[i])
    rejected = [False] * len(p)
    for step, i in enumerate(order):
        if p[i] > alpha / (len(p) - step):
            break
        rejected[i] = True
    return rejected


def test_holm_matches_the_step_down_loop_and_adjusts_monotonically():
    rng = np.random.default_rng(2)
    for _ in range(200):
        p = list(rng.uniform(0, 0.1, size=rng.integers(1, 8)))
        adjusted, rejected = stats.holm(p, 0.05)
        assert list(rejected) == _holm_loop(p, 0.05)
        order = np.argsort(p)
        assert np.all(np.diff(adjusted[order]) >= 0) and np.all(adjusted >= np.array(p))
    adjusted, rejected = stats.holm([0.01, np.nan, 0.04], 0.05)  # NaN: not tested, not counted in m
    assert math.isnan(adjusted[1]) and adjusted[0] == pytest.approx(0.02) and adjusted[2] == pytest.approx(0.04)
    assert list(rejected) == [True, False, True]


def test_bootstrap_keeps_each_seeds_trials_together():
    codes = np.array([0, 0, 1, 1, 1, 2])
    weights = stats.bootstrap_weights(codes, 3, np.random.default_rng(0), 500)
    assert weights.shape == (500, 6)
    assert np.all(weights[:, 0] == weights[:, 1]) and np.all(weights[:, 2] == weights[:, 4])
    per_seed = weights[:, [0, 2, 5]]
    assert np.all(per_seed.sum(axis=1) == 3)  # three seeds drawn per resample
    strata = np.array([0, 0, 1])  # seeds 0, 1 in one stratum, seed 2 alone: always drawn once
    assert np.all(stats.bootstrap_weights(codes, 3, np.random.default_rng(0), 100, strata)[:, 5] == 1)


def test_within_seed_permutations_move_trials_only_within_their_seed():
    codes = np.array([2, 0, 1, 0, 2, 1, 0, 2])
    rows = stats.within_seed_permutations(codes, np.random.default_rng(3), 300)
    assert all(sorted(r) == list(range(8)) for r in rows[:20])
    assert np.all(codes[rows] == codes[None, :])
    assert len({tuple(r) for r in rows}) > 50  # 3!·2!·3! = 72 distinct orders, most of them drawn


def test_level_slopes_is_ols_of_the_level_means():
    rng = np.random.default_rng(4)
    x = np.repeat(np.log2([1, 2, 4, 8]), 3)
    y = rng.normal(size=12)
    weights = rng.integers(0, 3, size=(40, 12)).astype(float)
    slopes = stats.level_slopes(x, y, weights)
    for w, slope in zip(weights, slopes, strict=True):
        levels = [lv for lv in np.unique(x) if w[x == lv].sum() > 0]
        means = [np.average(y[x == lv], weights=w[x == lv]) for lv in levels]
        expected = np.polyfit(levels, means, 1)[0] if len(levels) >= 2 else np.nan
        np.testing.assert_allclose(slope, expected, atol=1e-10)


def test_paired_difference_is_the_mean_over_seeds_of_the_per_seed_difference():
    y = np.array([1.0, 3.0, 5.0, 2.0, 2.0, 10.0, 7.0])
    codes = np.array([0, 0, 0, 1, 1, 1, 2])
    in_a = np.array([True, False, False, True, False, False, True])  # seed 2 has no b: left out
    got = stats.paired_difference(y, in_a[None, :], codes, 3, np.ones((1, 7)))[0]
    assert got == pytest.approx(((1 - 4) + (2 - 6)) / 2)
    double_seed_1 = np.array([[1, 1, 1, 2, 2, 2, 1.0]])
    assert stats.paired_difference(y, in_a[None, :], codes, 3, double_seed_1)[0] == pytest.approx((-3 - 8) / 3)


def test_matched_gap_reads_both_fronts_over_their_shared_recon_range():
    # a: score = 0.5 + 0.01·(recon − 100) for recon 100…140; b: 0.1 lower, recon 120…160: gap 0.1.
    recon = np.array([100, 120, 140, 120, 140, 160.0])
    score = np.array([0.5, 0.7, 0.9, 0.6, 0.8, 1.0])
    config = np.arange(6)
    in_a = np.array([[True, True, True, False, False, False]])
    assert stats.matched_gap(recon, score, config, in_a, np.ones((1, 6)), "max")[0] == pytest.approx(0.1)
    apart = np.array([100, 110, 120, 200, 210, 220.0])
    assert math.isnan(stats.matched_gap(apart, score, config, in_a, np.ones((1, 6)), "max")[0])


def test_trend_pvalue_is_uniform_under_the_null_and_small_for_a_real_trend():
    rng = np.random.default_rng(5)
    x = np.tile(np.log2([1, 2, 4, 8]), 4)
    codes = np.repeat(np.arange(4), 4)
    null = [stats.trend_pvalue(x, rng.normal(size=16), codes, rng, 199) for _ in range(300)]
    assert 0.02 < np.mean(np.array(null) <= 0.05) < 0.09
    assert stats.trend_pvalue(x, x + 0.1 * rng.normal(size=16), codes, rng, 999) < 0.005


def test_seeds_needed_follows_the_normal_formula():
    z = NormalDist().inv_cdf(0.975) + NormalDist().inv_cdf(0.8)
    assert power.seeds_needed(0.1, 0.2) == math.ceil((z * 2) ** 2) == 32
    assert power.seeds_needed(1.0, 0.01) == power.MIN_SEEDS
    assert power.seeds_needed(0.0, 1.0) is None and power.seeds_needed(float("nan"), 1.0) is None
    # the bootstrap SE over S seeds of a mean is sd·√((S−1)/S)/√S: sd_from_bootstrap undoes it
    assert power.sd_from_bootstrap(math.sqrt(2 / 3) / math.sqrt(3), 3) == pytest.approx(1.0)


def test_arrangements_and_the_seeds_a_permutation_test_needs_to_reach_a_level():
    from itertools import permutations

    codes = np.array([0, 0, 0, 1, 1, 1, 1])
    labels = np.array([1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 4.0])
    brute = 1
    for seed in (0, 1):  # distinct orderings of each seed's labels, counted by brute force
        brute *= len(set(permutations(labels[codes == seed].tolist())))
    assert power.arrangements(codes, labels) == pytest.approx(brute) == 3 * 12
    assert power.smallest_p(36, draws=2000) == pytest.approx(1 / 36)
    assert power.smallest_p(1e9, draws=2000) == pytest.approx(1 / 2001)
    assert power.seeds_for_resolution(2.0 ** 3, 3, 0.05) == 5  # paired: 2^5 = 32 ≥ 20
    assert power.seeds_for_resolution(2.0 ** 3, 3, 0.05 / 6) == 7  # 2^7 = 128 ≥ 120
    assert power.seeds_for_resolution(6.0 ** 3, 3, 0.025) == 3  # three levels per seed: 6^3 ≥ 40
    assert power.seeds_for_resolution(1.0, 3, 0.05) is None
