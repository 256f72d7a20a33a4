"""Disentanglement metrics on a synthetic ground truth whose observation is the factor vector."""

import numpy as np
import pytest
import torch

from analysis.metrics import LiveCodes, beta_vae_score, dci, factor_vae_score, mig, sap
from analysis.metrics.beta_vae import pair_features, sample_pairs
from analysis.metrics.factor_vae import fixed_factor_batches, votes
from analysis.metrics.mig import mutual_info_matrix
from tests.analysis.metrics.oracle import beta_vae_features_loop, factor_vae_votes_loop, mig_loop


class FactorData:
    """Observation = the factor vector itself (float), with a constant first factor like dSprites."""

    factor_sizes = (1, 4, 6, 10)

    def sample_factors(self, n, rng):
        from analysis.metrics._common import integers

        return np.stack([integers(rng, s, n) for s in self.factor_sizes], axis=1)

    def observations(self, factors):
        return torch.as_tensor(np.asarray(factors), dtype=torch.float64)

    def index_to_factors(self, index):
        return np.stack(np.unravel_index(np.asarray(index), self.factor_sizes), axis=1)


DATA = FactorData()
VARYING = 3
# A rotation by 45° in the plane of the first two varying factors: each of those code dims now
# carries both factors equally (the third stays aligned).
_c = np.sqrt(0.5)
R = np.array([[_c, -_c, 0.0], [_c, _c, 0.0], [0.0, 0.0, 1.0]])


def identity(x):
    return np.asarray(x)[:, 1:] / np.array(DATA.factor_sizes[1:])


def rotated(x):
    return identity(x) @ R


def noise(x):
    return np.random.default_rng(int(np.asarray(x).sum()) % 2**32).normal(size=(len(x), 3))


def with_noise_dims(x):
    return np.concatenate([identity(x), 0.1 * noise(x)], axis=1)


def rng(seed=0):
    return np.random.default_rng(seed)


def live(fn):
    return LiveCodes(DATA, fn)


def codes_factors(fn, n=3000, seed=1):
    f = DATA.sample_factors(n, rng(seed))
    return fn(DATA.observations(f)), f


SMALL = dict(num_train=300, num_eval=200)


def test_beta_vae_score():
    perfect = beta_vae_score(live(identity), rng(), **SMALL)["eval_accuracy"]
    assert perfect > 0.97
    assert beta_vae_score(live(rotated), rng(), **SMALL)["eval_accuracy"] < perfect
    assert abs(beta_vae_score(live(noise), rng(), **SMALL)["eval_accuracy"] - 1 / VARYING) < 0.12
    assert beta_vae_score(live(with_noise_dims), rng(), **SMALL)["eval_accuracy"] >= perfect - 0.02


def test_factor_vae_score():
    kw = dict(num_train=300, num_eval=200, num_variance_estimate=2000)
    perfect = factor_vae_score(live(identity), rng(), **kw)
    assert perfect["eval_accuracy"] > 0.97 and perfect["num_active_dims"] == 3
    assert factor_vae_score(live(rotated), rng(), **kw)["eval_accuracy"] < perfect["eval_accuracy"]
    assert abs(factor_vae_score(live(noise), rng(), **kw)["eval_accuracy"] - 1 / VARYING) < 0.12
    assert factor_vae_score(live(with_noise_dims), rng(), **kw)["eval_accuracy"] >= perfect["eval_accuracy"] - 0.02
    collapsed = factor_vae_score(live(lambda x: np.zeros((len(x), 2))), rng(), **kw)
    assert collapsed == {"train_accuracy": 0.0, "eval_accuracy": 0.0, "eval_accuracy_se": 0.0, "num_active_dims": 0}


def test_mig():
    codes, f = codes_factors(identity)
    perfect = mig(codes, f)
    assert 0.9 < perfect <= 1.0
    assert mig(*codes_factors(rotated)) < perfect - 0.3
    assert mig(*codes_factors(noise)) < 0.05
    # Appended noise dims: only the plug-in MI bias of the noise (≈ bins·values / 2n nats) can
    # enter as a "second best" MI, so with enough points MIG stays within 0.01.
    big, f_big = codes_factors(identity, 20000)
    noisy, _ = codes_factors(with_noise_dims, 20000)
    assert mig(noisy, f_big) >= mig(big, f_big) - 0.01


def test_mig_against_a_hand_built_mutual_information():
    # Two binary factors, one code dim copying factor 1 and one copying factor 2 half the time.
    f = np.array([[0, 0], [0, 1], [1, 0], [1, 1]] * 25)
    code = np.stack([f[:, 0], np.where(np.arange(100) % 8 < 4, f[:, 1], 0)], axis=1).astype(float)
    m = mutual_info_matrix(code.astype(int), f)
    # I(c0; f0) = log 2; I(c1; f1) computed by hand from the joint table below
    joint = np.zeros((2, 2))
    for c, v in zip(code[:, 1].astype(int), f[:, 1], strict=True):
        joint[c, v] += 1
    joint /= joint.sum()
    pc, pv = joint.sum(1), joint.sum(0)
    nz = joint > 0
    i11 = np.sum(joint[nz] * np.log(joint[nz] / np.outer(pc, pv)[nz]))
    assert m[0, 0] == pytest.approx(np.log(2)) and m[1, 1] == pytest.approx(i11)
    assert mig(code, f, num_bins=2) == pytest.approx(((np.log(2) - 0) / np.log(2) + (i11 - 0) / np.log(2)) / 2)


def test_dci_and_sap():
    (ct, ft), (ce, fe) = codes_factors(identity, 600, 1), codes_factors(identity, 300, 2)
    perfect = dci(ct, ft, ce, fe)
    assert perfect["disentanglement"] > 0.9 and perfect["completeness"] > 0.9
    assert perfect["informativeness_test"] > 0.95
    (rt, _), (re, _) = codes_factors(rotated, 600, 1), codes_factors(rotated, 300, 2)
    rot = dci(rt, ft, re, fe)
    assert rot["disentanglement"] < perfect["disentanglement"] - 0.2
    (nt, _), (ne, _) = codes_factors(noise, 600, 1), codes_factors(noise, 300, 2)
    assert dci(nt, ft, ne, fe)["disentanglement"] < 0.2
    assert sap(ct, ft, ce, fe) > sap(nt, ft, ne, fe)
    assert sap(nt, ft, ne, fe) < 0.05
    assert sap(ct, ft, ce, fe, continuous=True) > 0.9


def test_vectorised_equals_loop_oracle():
    for fn in (identity, rotated, noise):
        codes, f = codes_factors(fn, 1500)
        assert mig(codes, f) == pytest.approx(mig_loop(codes, f), abs=1e-12)
    labels, (f1, c1), (f2, c2) = sample_pairs(live(rotated), 20, 16, rng(3))
    f1, f2 = f1.reshape(20, 16, -1), f2.reshape(20, 16, -1)
    assert np.array_equal(f1[np.arange(20), :, labels], f2[np.arange(20), :, labels])
    assert np.allclose(pair_features(c1, c2, 16), beta_vae_features_loop(DATA, rotated, f1, f2))
    labels, batches, batch_codes = fixed_factor_batches(live(rotated), 30, 16, rng(4))
    assert all(np.unique(batches[p, :, labels[p]]).size == 1 for p in range(30))
    gv, active = np.array([0.1, 0.2, 0.3]), np.array([True, False, True])
    assert np.array_equal(votes(labels, batch_codes, gv, active, len(DATA.factor_sizes)),
                          factor_vae_votes_loop(DATA, rotated, labels, batches, gv, active))


def test_same_seed_same_score():
    a = beta_vae_score(live(rotated), rng(7), **SMALL)
    b = beta_vae_score(live(rotated), rng(7), **SMALL)
    assert a == b
    sizes = dict(num_train=100, num_eval=50, num_variance_estimate=500)
    c1 = factor_vae_score(live(rotated), np.random.RandomState(3), **sizes)
    c2 = factor_vae_score(live(rotated), np.random.RandomState(3), **sizes)
    assert c1 == c2


def test_bad_input_is_refused_or_documented():
    codes, f = codes_factors(identity, 200)
    bad = codes.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        mig(bad, f)
    with pytest.raises(ValueError, match="200 points but factors have 199"):
        mig(codes, f[:-1])
    with pytest.raises(ValueError, match="NaN"):
        beta_vae_score(live(lambda x: np.full((len(x), 2), np.nan)), rng(), **SMALL)
    constant = np.concatenate([codes, np.ones((200, 1))], axis=1)  # documented: a constant dim has MI 0
    assert mig(constant, f) == pytest.approx(mig(codes, f))
    # documented: single-valued factors (column 0 here) are skipped, not divided by zero
    assert np.isfinite(mig(codes, f)) and np.isfinite(sap(codes, f, codes, f))
    with pytest.raises(ValueError, match="every factor has a single value"):
        mig(codes, np.zeros((200, 2), dtype=int))
