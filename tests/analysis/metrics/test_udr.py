"""UDR (Duan et al. 2020) on the codes of synthetic "seeds" whose agreement is known."""

import numpy as np
import pytest

from analysis.metrics import udr_pair, udr_pairwise, udr_scores
from analysis.metrics.udr import spearman_matrix, udr_from_similarity
from tests.analysis.metrics.oracle import udr_pair_loop
from tests.analysis.metrics.test_disentanglement import DATA, identity, rng


def factor_codes(n, seed=1):
    return identity(DATA.observations(DATA.sample_factors(n, rng(seed))))


def plane_rotation(theta):
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def perfect_seeds(base, m=4, seed=5):
    """The same disentangled code up to permutation, sign flips, scales and offsets."""
    g = rng(seed)
    d = base.shape[1]
    return [base[:, g.permutation(d)] * g.choice([-1.0, 1.0], d) * g.uniform(0.5, 3.0, d) + g.normal(size=d)
            for _ in range(m)]


def rotated_seeds(base, thetas=(0.3, 0.7, 1.1, 1.5)):
    """Each seed mixes the first two factors by a different rotation."""
    return [base @ plane_rotation(t) for t in thetas]


def noise_seeds(n, m=4):
    return [rng(10 + i).normal(size=(n, 3)) for i in range(m)]


def test_vectorised_equals_loop_oracle():
    base = factor_codes(200)
    kls = [np.array([0.5, 0.005, 2.0]), np.array([1.0, 1.0, 1.0]), np.array([0.02, 3.0, 0.0]),
           np.array([0.3, 0.2, 0.1])]
    for codes in (perfect_seeds(base), rotated_seeds(base), noise_seeds(200)):
        codes = [c + 0.05 * rng(i).normal(size=c.shape) for i, c in enumerate(codes)]
        for method in ("spearman", "lasso"):
            pairwise = udr_pairwise(codes, kls, method)
            for i in range(4):
                for j in range(4):
                    if i != j:
                        a, b = codes[i][:, kls[i] > 0.01], codes[j][:, kls[j] > 0.01]
                        assert pairwise[i, j] == pytest.approx(udr_pair_loop(a, b, method), abs=1e-9)
            medians = [np.median([pairwise[i, m] for i in range(4) if i != m]) for m in range(4)]
            assert np.allclose(udr_scores(codes, kls, method), medians, atol=1e-12)


def test_spearman_equals_scipy_with_ties_and_constants():
    import scipy.stats

    a = np.round(rng(0).normal(size=(80, 3)), 1)
    b = np.c_[np.round(a[:, 0] + rng(1).normal(size=80), 1), rng(2).integers(0, 3, 80), np.ones(80)]
    r = spearman_matrix(a, b)
    for i in range(3):
        for j in range(2):
            assert r[i, j] == pytest.approx(abs(scipy.stats.spearmanr(a[:, i], b[:, j])[0]), abs=1e-12)
    assert np.all(r[:, 2] == 0)  # documented: a constant latent is similar to nothing


def test_udr_from_hand_built_similarities():
    # the reference's own test matrices, then a rectangular one where the paper's weighting by
    # d_a + d_b (4.5 / 5) differs from the reference's mean of the row and column means (0.875)
    assert udr_from_similarity(np.eye(3)) == 1.0
    assert udr_from_similarity(np.array([[1.0, 1, 0], [1, 1, 0], [0, 0, 1]])) == pytest.approx(2 / 3)
    assert udr_from_similarity(np.ones((3, 3))) == pytest.approx(1 / 3)
    assert udr_from_similarity(np.zeros((3, 3))) == 0.0
    assert udr_from_similarity(np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])) == pytest.approx(0.9)
    assert udr_from_similarity(np.zeros((0, 3))) == 0.0


def test_known_codes():
    base = factor_codes(1000)
    perfect = udr_scores(perfect_seeds(base))
    assert np.all(perfect > 0.9), perfect
    # documented: the Lasso shrinks a perfect match from 1 to 1 - alpha = 0.9
    assert udr_scores(perfect_seeds(base), method="lasso") == pytest.approx(np.full(4, 0.9), abs=0.01)
    rotated = udr_scores(rotated_seeds(base))
    assert np.all(rotated < perfect.min() - 0.15), rotated
    assert np.all(udr_scores(noise_seeds(1000)) < 0.1)
    # one seed that rotated among seeds that agree ranks last
    mixed = udr_scores(perfect_seeds(base, 3) + rotated_seeds(base, (0.8,)))
    assert np.argmin(mixed) == 3 and mixed[3] < mixed[:3].min() - 0.1, mixed


def test_uninformative_latents_are_filtered_by_kl():
    # as the reference's test: one latent copies a factor, the others are fresh noise per model
    base = factor_codes(1000)
    codes = [np.c_[base[:, :1], rng(20 + i).normal(size=(1000, 2))] for i in range(3)]
    kls = [np.array([1.0, 0.001, 0.0])] * 3
    assert np.all(udr_scores(codes) < 0.5)
    assert udr_scores(codes, kls) == pytest.approx(np.ones(3))
    assert udr_pair(codes[0], codes[1], kls[0], np.zeros(3)) == 0.0  # nothing informative


def test_bad_input_is_refused():
    codes = noise_seeds(50, 2)
    with pytest.raises(ValueError, match="at least 2 models"):
        udr_scores(codes[:1])
    with pytest.raises(ValueError, match="same inputs"):
        udr_pair(codes[0], codes[1][:40])
    with pytest.raises(ValueError, match="KL values for 3 latent dims"):
        udr_scores(codes, [np.ones(2), np.ones(3)])
    with pytest.raises(ValueError, match="unknown 'pca'"):
        udr_scores(codes, method="pca")
    with pytest.raises(ValueError, match="NaN or inf"):
        udr_pair(np.full((50, 3), np.nan), codes[1])
