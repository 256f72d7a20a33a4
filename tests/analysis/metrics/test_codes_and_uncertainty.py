"""Code sources (live, pooled, whole grid) and the standard errors every stochastic score carries."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from analysis.metrics import GridCodes, LiveCodes, PoolCodes, beta_vae_score, factor_vae_score, mig, sap
from analysis.metrics.mig import mig_with_se
from analysis.metrics.sap import sap_with_se
from analysis.metrics.uncertainty import binomial_se, bootstrap_se
from tests.analysis.metrics.oracle import bootstrap_se_loop, mig_loop
from tests.analysis.metrics.test_disentanglement import DATA, identity, rng, rotated

SMALL = dict(num_train=300, num_eval=200)


def noisy(x, scale=0.15):
    """A partly informative code: each factor read with noise (a fixed function of the input)."""
    x = np.asarray(x)
    noise = np.random.default_rng(int(x.sum() * 7) % 2**32).normal(size=(len(x), 3))
    return identity(x) + scale * noise


def very_noisy(x):
    """Noisy enough that the classifier metrics sit near 0.78, far from saturation."""
    return noisy(x, 0.5)


def test_grid_codes_give_exactly_the_live_scores():
    grid = GridCodes(DATA, identity)
    assert grid.table.shape == (int(np.prod(DATA.factor_sizes)), 3)
    assert beta_vae_score(grid, rng(5), **SMALL) == beta_vae_score(LiveCodes(DATA, identity), rng(5), **SMALL)
    kw = dict(num_train=200, num_eval=100, num_variance_estimate=500)
    a = factor_vae_score(GridCodes(DATA, rotated), rng(6), **kw)
    b = factor_vae_score(LiveCodes(DATA, rotated), rng(6), **kw)
    assert a == pytest.approx(b)


def test_pool_draws_respect_the_constraint_and_stay_in_the_pool():
    pool = PoolCodes(DATA, identity, 500, rng(1))
    members = {tuple(f) for f in pool.factors}
    f1, c1 = pool.sample(400, rng(2))
    fixed = rng(3).integers(1, 4, 400)
    f2, c2 = pool.matching(f1, fixed, rng(4))
    assert {tuple(f) for f in f1} <= members and {tuple(f) for f in f2} <= members
    assert np.array_equal(f2[np.arange(400), fixed], f1[np.arange(400), fixed])
    assert np.allclose(c2, identity(f2)) and np.allclose(c1, identity(f1))
    # the other factors are not copied: the matched rows are fresh draws
    assert np.mean(np.all(f1 == f2, axis=1)) < 0.2


def test_pool_refuses_a_factor_value_it_lacks():
    pool = PoolCodes(DATA, identity, 3, rng(1))
    missing = next(v for v in range(10) if v not in pool.factors[:, 3])
    f = pool.factors[:1].copy()
    f[0, 3] = missing
    with pytest.raises(ValueError, match="raise the pool size"):
        pool.matching(f, np.array([3]), rng(0))


def test_pooled_scores_agree_with_live_scores_within_their_errors():
    pool = PoolCodes(DATA, very_noisy, 5000, rng(1))
    kw = dict(num_train=1000, num_eval=1000)
    for score, extra in ((beta_vae_score, {}), (factor_vae_score, {"num_variance_estimate": 2000})):
        a = score(pool, rng(2), **kw, **extra)
        b = score(LiveCodes(DATA, very_noisy), rng(3), **kw, **extra)
        assert 0.5 < b["eval_accuracy"] < 0.95, b  # not saturated, so the comparison means something
        combined = np.hypot(a["eval_accuracy_se"], b["eval_accuracy_se"])
        assert abs(a["eval_accuracy"] - b["eval_accuracy"]) < 4 * combined, (score.__name__, a, b)


def test_binomial_se():
    assert binomial_se(0.75, 500) == pytest.approx(np.sqrt(0.75 * 0.25 / 500))
    assert binomial_se(1.0, 10) == 0.0
    with pytest.raises(ValueError):
        binomial_se(0.5, 0)
    out = beta_vae_score(LiveCodes(DATA, noisy), rng(), **SMALL)
    assert out["eval_accuracy_se"] == pytest.approx(binomial_se(out["eval_accuracy"], 200))


def test_bootstrap_se_equals_the_loop_oracle():
    x = rng(0).normal(size=300)
    stat = lambda rows: float(np.median(x[rows]))  # noqa: E731
    assert bootstrap_se(stat, 300, rng(9), 50) == pytest.approx(bootstrap_se_loop(stat, 300, rng(9), 50), abs=1e-12)
    f = DATA.sample_factors(800, rng(1))
    codes = noisy(DATA.observations(f))
    value, se = mig_with_se(codes, f, rng(4), num_resamples=30)
    assert value == pytest.approx(mig(codes, f), abs=1e-12)
    assert se == pytest.approx(bootstrap_se_loop(lambda r: mig_loop(codes[r], f[r]), 800, rng(4), 30), abs=1e-9)


def test_bootstrap_se_matches_the_spread_over_independent_samples():
    values, ses = [], []
    for seed in range(24):
        f = DATA.sample_factors(1000, rng(100 + seed))
        codes = noisy(DATA.observations(f))
        if seed < 6:
            ses.append(mig_with_se(codes, f, rng(seed), num_resamples=100)[1])
        values.append(mig(codes, f))
    spread = np.std(values, ddof=1)
    assert 0.6 * spread < np.mean(ses) < 1.6 * spread, (spread, ses)
    small = mig_with_se(codes[:250], f[:250], rng(0))[1]
    assert small > np.mean(ses)  # fewer points, larger error


def test_sap_with_se():
    ft, fe = DATA.sample_factors(400, rng(1)), DATA.sample_factors(400, rng(2))
    ct, ce = noisy(DATA.observations(ft)), noisy(DATA.observations(fe))
    value, se = sap_with_se(ct, ft, ce, fe, rng(3))
    assert value == pytest.approx(sap(ct, ft, ce, fe))
    assert 0 < se < 0.1


def test_beta_vae_classifier_converges_on_unscaled_features():
    def badly_scaled(x):
        return noisy(x) * np.array([1e-3, 1.0, 3.0])

    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        out = beta_vae_score(LiveCodes(DATA, badly_scaled), rng(), num_train=500, num_eval=200)
    assert out["eval_accuracy"] > 1 / 3 + 0.2
