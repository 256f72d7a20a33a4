"""Gaussian total correlation equals disentanglement_lib's definition (a loop oracle below) and its
closed forms."""

import numpy as np
import pytest

from analysis.metrics.codes import LiveCodes
from analysis.metrics.registry import Context
from analysis.metrics.total_correlation import code_covariance, gaussian_total_correlation, score
from tests.analysis.metrics.test_disentanglement import DATA, identity, with_noise_dims


def oracle(mus):
    """disentanglement_lib: cov = np.cov(mus) on (num_codes, num_points) means; TC = KL(N(0, cov) ‖
    N(0, diag cov)) as its numerically unstable test helper writes it (det, inverse)."""
    cov = np.cov(mus)
    k = cov.shape[0]
    diag = np.zeros_like(cov)
    for j in range(k):
        diag[j, j] = cov[j, j]
    inv = np.linalg.inv(diag)
    return 0.5 * (np.trace(inv @ cov) - k + np.log(np.linalg.det(diag) / np.linalg.det(cov)))


def test_equals_disentanglement_libs_definition_on_fixed_arrays():
    rng = np.random.default_rng(0)
    for d in (2, 4, 7):
        codes = rng.normal(size=(500, d)) @ rng.normal(size=(d, d))
        assert gaussian_total_correlation(code_covariance(codes)) == pytest.approx(oracle(codes.T), rel=1e-9)


def test_closed_forms():
    rng = np.random.default_rng(1)
    independent = rng.normal(size=(20000, 5)) * [1, 2, 3, 4, 5]
    assert abs(gaussian_total_correlation(code_covariance(independent))) < 2e-3
    for rho in (0.3, 0.9):
        cov = np.array([[2.0, rho * 2.0], [rho * 2.0, 2.0]])
        assert gaussian_total_correlation(cov) == pytest.approx(-0.5 * np.log(1 - rho**2), rel=1e-12)
    assert gaussian_total_correlation(np.diag([1.0, 4.0, 9.0])) == 0.0


def test_scorer_reads_the_code_source():
    def sheared(x):  # the second dim also carries the first factor: correlated dims
        return identity(x) @ np.array([[1.0, 0.8, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])

    tc = score(Context(np.random.default_rng(2), LiveCodes(DATA, sheared)), 2000)["gaussian_total_correlation"]
    aligned = score(Context(np.random.default_rng(2), LiveCodes(DATA, with_noise_dims)), 2000)
    assert tc > 0.1 and aligned["gaussian_total_correlation"] < 0.02
    with pytest.raises(ValueError, match="at least 2 points"):
        code_covariance(np.zeros((1, 3)))
