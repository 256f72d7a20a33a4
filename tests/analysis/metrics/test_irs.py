"""IRS (Suter et al. 2019) on synthetic codes whose answer is known."""

import numpy as np
import pytest

from analysis.metrics import irs
from analysis.metrics.irs import group_quantiles
from tests.analysis.metrics.oracle import irs_loop
from tests.analysis.metrics.test_codes_and_uncertainty import noisy
from tests.analysis.metrics.test_disentanglement import DATA, identity, noise, rng, rotated


def perfect(x):
    """Each code dim one factor, with its own scale, sign and offset."""
    return identity(x) * np.array([2.0, -0.5, 7.0]) + np.array([1.0, -3.0, 0.2])


def uniform_noise(x):
    return np.random.default_rng(len(x)).uniform(size=(len(x), 3))


def codes_factors(fn, n, seed=1):
    f = DATA.sample_factors(n, rng(seed))
    return fn(DATA.observations(f)), f


def test_vectorised_equals_loop_oracle():
    for fn in (perfect, rotated, noise, noisy):
        codes, f = codes_factors(fn, 300)
        for q in (0.99, 1.0, 0.5):
            assert irs(codes, f, diff_quantile=q)["irs"] == pytest.approx(irs_loop(codes, f, q), abs=1e-12)
    # a factor with more values than bins: the reference's histogram merges neighbouring values
    codes, f = codes_factors(noisy, 300)
    f = np.c_[f, rng(5).integers(0, 40, 300)]
    codes = np.c_[codes, f[:, -1] + rng(6).normal(size=300)]
    for bins in (20, 3, None):
        assert irs(codes, f, factor_bins=bins)["irs"] == pytest.approx(irs_loop(codes, f, 0.99, bins), abs=1e-12)


def test_group_quantiles_equal_numpy_percentile():
    values, groups = rng(0).normal(size=(50, 3)), rng(1).integers(0, 4, 50)
    for q in (0.0, 0.37, 0.99, 1.0):
        expected = [np.percentile(values[groups == g], 100 * q, axis=0) for g in range(4)]
        assert np.allclose(group_quantiles(values, groups, q), expected, atol=1e-12)


def test_known_codes():
    scores = {fn.__name__: irs(*codes_factors(fn, 3000)) for fn in (perfect, rotated, noise, uniform_noise)}
    assert scores["perfect"] == {"irs": pytest.approx(1.0, abs=1e-12), "num_active_dims": 3}
    assert scores["rotated"]["irs"] < 0.8
    # documented: the 0.99 quantile of Gaussian noise is below its maximum, uniform noise's is not
    assert scores["noise"]["irs"] < 0.45
    assert scores["uniform_noise"]["irs"] < 0.05


def test_inactive_dims_are_dropped():
    codes, f = codes_factors(rotated, 500)
    out = irs(np.c_[codes, np.full(500, 0.1)], f)
    assert out["num_active_dims"] == 3 and out["irs"] == pytest.approx(irs(codes, f)["irs"])
    assert irs(np.zeros((500, 2)), f) == {"irs": 0.0, "num_active_dims": 0}


def test_standard_error():
    small = irs(*codes_factors(noisy, 400), rng=rng(3))
    big = irs(*codes_factors(noisy, 3200), rng=rng(3))
    # 8x the points; the deviations are extremes (a maximum, 0.99 quantiles) of Gaussian noise, whose
    # spread shrinks more slowly than 1/sqrt(n) (measured: 0.0195 -> 0.0094 over independent samples)
    assert 0 < big["irs_se"] < small["irs_se"] / 1.4, (small, big)
    assert irs(*codes_factors(noisy, 400))["irs"] == small["irs"]
    values = [irs(*codes_factors(noisy, 400, 100 + seed))["irs"] for seed in range(16)]
    ses = [irs(*codes_factors(noisy, 400, 100 + seed), rng=rng(seed))["irs_se"] for seed in range(4)]
    spread = np.std(values, ddof=1)
    assert 0.5 * spread < np.mean(ses) < 2.0 * spread, (spread, ses)


def test_bad_input_is_refused():
    codes, f = codes_factors(perfect, 100)
    with pytest.raises(ValueError, match="NaN or inf"):
        irs(np.where(codes > 1, np.nan, codes), f)
    with pytest.raises(ValueError, match="diff_quantile"):
        irs(codes, f, diff_quantile=1.5)
    with pytest.raises(ValueError, match="every factor has a single value"):
        irs(codes, np.zeros((100, 2), dtype=int))
