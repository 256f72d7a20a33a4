"""Modularity and explicitness (Ridgeway & Mozer 2018) on synthetic codes whose answer is known."""

import numpy as np
import pytest

from analysis.metrics import modularity, modularity_explicitness
from analysis.metrics.modularity import auc_per_class, auc_table, modularity_from_mi
from tests.analysis.metrics.oracle import auc_loop, explicitness_loop, modularity_loop
from tests.analysis.metrics.test_codes_and_uncertainty import noisy
from tests.analysis.metrics.test_disentanglement import DATA, identity, noise, rng, rotated


def perfect(x):
    """Each code dim one factor, with its own scale, sign and offset."""
    return identity(x) * np.array([2.0, -0.5, 7.0]) + np.array([1.0, -3.0, 0.2])


def split(fn, n_train, n_test):
    ft, fe = DATA.sample_factors(n_train, rng(1)), DATA.sample_factors(n_test, rng(2))
    return fn(DATA.observations(ft)), ft, fn(DATA.observations(fe)), fe


def test_vectorised_equals_loop_oracle():
    for fn in (perfect, rotated, noise, noisy):
        ct, ft, ce, fe = split(fn, 300, 200)
        out = modularity_explicitness(ct, ft, ce, fe)
        assert out["modularity"] == pytest.approx(modularity_loop(ct, ft), abs=1e-12)
        train, test = explicitness_loop(ct, ft, ce, fe)
        assert out["explicitness_train"] == pytest.approx(train, abs=1e-9)
        assert out["explicitness_test"] == pytest.approx(test, abs=1e-9)
        assert modularity(ct, ft, num_bins=7) == pytest.approx(modularity_loop(ct, ft, 7), abs=1e-12)


def test_auc_equals_pair_counting_with_ties():
    labels = rng(0).integers(0, 3, 60)
    scores = np.round(rng(1).normal(size=(60, 4)), 1)  # rounded: many ties
    auc = auc_per_class(labels, scores, np.array([0, 1, 2, 7]))
    assert np.allclose(auc[:3], [auc_loop(labels, scores[:, c], c) for c in range(3)], atol=1e-12)
    assert np.isnan(auc[3])  # a value with no positives has no AUC
    rows = rng(2).integers(0, 60, 60)  # a bootstrap resample = multiplicity weights
    weighted = auc_table(labels, scores[:, :3], np.arange(3))(np.bincount(rows, minlength=60))
    assert np.allclose(weighted, [auc_loop(labels[rows], scores[rows, c], c) for c in range(3)], atol=1e-12)


def test_modularity_from_a_hand_built_mutual_information():
    mi = np.array([[1.0, 0.0, 0.0],    # one factor: δ = 0
                   [1.0, 1.0, 0.0],    # two equal: δ = 1 / (1 · 2)
                   [2.0, 2.0, 2.0],    # all equal: δ = 1
                   [0.0, 0.0, 0.0]])   # no information: scored 0, as the reference does
    assert modularity_from_mi(mi) == pytest.approx((1.0 + 0.5 + 0.0 + 0.0) / 4)
    assert modularity_from_mi(np.array([[0.3], [0.0]])) == 0.5  # one factor: informative dims are modular


def test_known_codes():
    scores = {fn.__name__: modularity_explicitness(*split(fn, 1500, 1000)) for fn in (perfect, rotated, noise)}
    p, r, n = scores["perfect"], scores["rotated"], scores["noise"]
    assert p["modularity"] > 0.99
    assert p["explicitness_test"] > 0.95 and p["explicitness_train"] > 0.95
    assert r["modularity"] < p["modularity"] - 0.1
    # explicitness is linear decodability: a rotation keeps it (up to the per-dim standardisation)
    assert r["explicitness_test"] == pytest.approx(p["explicitness_test"], abs=0.02)
    assert n["explicitness_test"] == pytest.approx(0.5, abs=0.03)
    # documented: noise MIs are the plug-in bias, larger for factors with more values, so noise is
    # far from the ideal but not at 0
    assert n["modularity"] < p["modularity"] - 0.1


def test_standard_errors():
    small = modularity_explicitness(*split(noisy, 300, 300), rng=rng(3))
    big = modularity_explicitness(*split(noisy, 2400, 2400), rng=rng(3))
    for key in ("modularity_se", "explicitness_test_se"):
        assert 0 < big[key] < small[key] / 1.8, (key, small[key], big[key])
    assert modularity_explicitness(*split(noisy, 300, 300))["modularity"] == small["modularity"]


def test_bad_input_is_refused_or_documented():
    ct, ft, ce, fe = split(perfect, 200, 100)
    bad = ct.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or inf"):
        modularity_explicitness(bad, ft, ce, fe)
    with pytest.raises(ValueError, match="same code and factor dimensions"):
        modularity_explicitness(ct, ft, ce[:, :2], fe)
    with pytest.raises(ValueError, match="every factor has a single value"):
        modularity(ct, np.zeros((200, 2), dtype=int))
    # documented: a constant code dim has no MI (scores 0) and does not break the standardisation
    constant = modularity_explicitness(np.c_[ct, np.ones(200)], ft, np.c_[ce, np.ones(100)], fe)
    assert constant["modularity"] == pytest.approx(modularity(ct, ft) * 3 / 4)
    assert np.isfinite(constant["explicitness_test"])
