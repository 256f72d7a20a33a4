"""Mean MI between code dimensions equals disentanglement_lib's mutual_info_score (histogram
discretisation into 20 bins, scikit-learn's mutual_info_score per pair, diagonal zeroed)."""

import numpy as np
import pytest
import sklearn.metrics

from analysis.metrics.code_mutual_info import code_mutual_info, score
from analysis.metrics.codes import LiveCodes
from analysis.metrics.registry import Context
from tests.analysis.metrics.test_disentanglement import DATA, rotated, with_noise_dims


def oracle(mus, num_bins=20):
    """disentanglement_lib on (num_codes, num_points) means, loop for loop."""
    discretized = np.zeros_like(mus)
    for i in range(mus.shape[0]):
        discretized[i, :] = np.digitize(mus[i, :], np.histogram(mus[i, :], num_bins)[1][:-1])
    num_codes = mus.shape[0]
    m = np.zeros([num_codes, num_codes])
    for i in range(num_codes):
        for j in range(num_codes):
            m[i, j] = sklearn.metrics.mutual_info_score(discretized[j, :], discretized[i, :])
    np.fill_diagonal(m, 0)
    return np.sum(m) / (num_codes**2 - num_codes)


def test_equals_disentanglement_libs_definition_on_fixed_arrays():
    rng = np.random.default_rng(0)
    for d in (2, 4, 7):
        codes = rng.normal(size=(1000, d)) @ rng.normal(size=(d, d))
        assert code_mutual_info(codes) == pytest.approx(oracle(codes.T), rel=1e-10, abs=1e-12)
    codes = rng.uniform(size=(300, 3))
    assert code_mutual_info(codes, num_bins=5) == pytest.approx(oracle(codes.T, 5), rel=1e-10)


def test_closed_forms():
    rng = np.random.default_rng(1)
    independent = rng.normal(size=(20000, 4))
    assert code_mutual_info(independent) < 19**2 / (2 * 20000) * 1.5  # the plug-in bias, no more
    x = rng.uniform(size=20000)
    copies = np.stack([x, 3 * x + 1], axis=1)  # one dimension twice: MI = its binned entropy
    assert code_mutual_info(copies) == pytest.approx(np.log(20), rel=1e-3)
    with pytest.raises(ValueError, match="at least 2 code dimensions"):
        code_mutual_info(x[:, None])


def test_scorer_on_a_code_source():
    mixed = score(Context(np.random.default_rng(2), LiveCodes(DATA, rotated)), 2000)["mutual_info_score"]
    aligned = score(Context(np.random.default_rng(2), LiveCodes(DATA, with_noise_dims)), 2000)["mutual_info_score"]
    assert mixed > aligned
