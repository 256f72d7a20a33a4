"""Gaussian Wasserstein correlation equals disentanglement_lib's definition (scipy's sqrtm of
cov * diag(cov)[:, None]) and its closed forms."""

import numpy as np
import pytest
import scipy.linalg

from analysis.metrics.codes import LiveCodes
from analysis.metrics.registry import Context
from analysis.metrics.total_correlation import code_covariance
from analysis.metrics.wasserstein_correlation import gaussian_wasserstein_correlation, score
from tests.analysis.metrics.test_disentanglement import DATA, rotated


def oracle(mus):
    """disentanglement_lib on (num_codes, num_points) means: the score and its normalised form."""
    cov = np.cov(mus)
    product = np.zeros_like(cov)
    for i in range(cov.shape[0]):
        for j in range(cov.shape[1]):
            product[i, j] = cov[i, j] * cov[i, i]
    value = 2 * np.trace(cov) - 2 * np.trace(scipy.linalg.sqrtm(product))
    return float(np.real(value)), float(np.real(value)) / np.sum(np.diag(cov))


def test_equals_disentanglement_libs_definition_on_fixed_arrays():
    rng = np.random.default_rng(0)
    for d in (2, 4, 7):
        codes = rng.normal(size=(500, d)) @ rng.normal(size=(d, d))
        value, norm = oracle(codes.T)
        out = score(Context(None, _Fixed(codes)), len(codes))
        assert out["gaussian_wasserstein_correlation"] == pytest.approx(value, rel=1e-7, abs=1e-9)
        assert out["gaussian_wasserstein_correlation_norm"] == pytest.approx(norm, rel=1e-7, abs=1e-9)


def test_closed_forms():
    for rho in (0.0, 0.5, 0.99):
        cov = np.array([[1.0, rho], [rho, 1.0]])
        expected = 4 - 2 * (np.sqrt(1 + rho) + np.sqrt(1 - rho))
        assert gaussian_wasserstein_correlation(cov) == pytest.approx(expected, abs=1e-12)
    assert gaussian_wasserstein_correlation(np.diag([1.0, 4.0, 9.0])) == pytest.approx(0.0, abs=1e-12)
    independent = np.random.default_rng(1).normal(size=(20000, 4)) * [1, 2, 3, 4]
    assert gaussian_wasserstein_correlation(code_covariance(independent)) < 1e-3


def test_scorer_on_a_code_source():
    out = score(Context(np.random.default_rng(2), LiveCodes(DATA, rotated)), 2000)
    assert 0 < out["gaussian_wasserstein_correlation_norm"] < 2


class _Fixed:
    """A code source that returns fixed codes (no factors needed)."""

    def __init__(self, codes):
        self.codes = codes

    def sample(self, n, rng):
        return None, self.codes[:n]
