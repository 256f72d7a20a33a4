"""DCI: disentanglement, completeness, informativeness (Eastwood & Williams 2018).

Per factor a ``GradientBoostingClassifier`` (scikit-learn defaults, as the reference) predicts the
factor from the code; its feature importances form column k of the importance matrix R (codes ×
factors). Disentanglement = Σ_j ρ_j (1 − H_K(R_j·)), the importance-weighted mean over codes of one
minus the entropy (base #factors) of each code's normalised row; completeness = Σ_k ρ_k (1 −
H_D(R_·k)), the same over factors with base #codes; informativeness = mean train / test
accuracy over factors.

Range 0..1. A pure-noise code gets near-uniform importances, so D and C ≈ 0. Known biases: GBT
importances are split-count based and favour dims with many distinct values; with few training
points informativeness_test is low for factors with many classes (dSprites orientation: 40).
Factors with a single value (dSprites colour) cannot train a classifier and are skipped.

Uncertainty: informativeness gets a bootstrap SE over the test points (models fixed). D and C have
none: they come from one importance matrix, and a bootstrap would refit the per-factor GBTs for
every resample (one fit at the full preset's 10,000 points takes minutes on a CPU).
"""

from __future__ import annotations

import numpy as np
import scipy.stats
from sklearn.ensemble import GradientBoostingClassifier

from analysis.metrics._common import check_codes_factors, varying
from analysis.metrics.uncertainty import bootstrap_se


def importance_matrix(codes_train, factors_train, codes_test, factors_test, random_state=0):
    """(R (d, k), mean train accuracy, test hits (n_test, k)) with one GBT per factor."""
    d, k = codes_train.shape[1], factors_train.shape[1]
    r = np.zeros((d, k))
    train_acc, test_hits = [], []
    for i in range(k):
        model = GradientBoostingClassifier(random_state=random_state)
        model.fit(codes_train, factors_train[:, i])
        r[:, i] = np.abs(model.feature_importances_)
        train_acc.append(np.mean(model.predict(codes_train) == factors_train[:, i]))
        test_hits.append(model.predict(codes_test) == factors_test[:, i])
    return r, float(np.mean(train_acc)), np.stack(test_hits, axis=1)


def disentanglement(r: np.ndarray) -> float:
    """Importance-weighted mean over codes of 1 − H_{#factors}(row)."""
    per_code = 1.0 - scipy.stats.entropy(r.T + 1e-11, base=r.shape[1]) if r.shape[1] > 1 else np.ones(r.shape[0])
    if r.sum() == 0:
        r = np.ones_like(r)
    weight = r.sum(axis=1) / r.sum()
    return float(np.sum(per_code * weight))


def completeness(r: np.ndarray) -> float:
    """Importance-weighted mean over factors of 1 − H_{#codes}(column)."""
    per_factor = 1.0 - scipy.stats.entropy(r + 1e-11, base=r.shape[0]) if r.shape[0] > 1 else np.ones(r.shape[1])
    if r.sum() == 0:
        r = np.ones_like(r)
    weight = r.sum(axis=0) / r.sum()
    return float(np.sum(per_factor * weight))


def dci(codes_train, factors_train, codes_test, factors_test, random_state: int = 0, rng=None) -> dict:
    """DCI scores: disentanglement, completeness, informativeness_train, informativeness_test,
    and, given ``rng``, informativeness_test_se (bootstrap over test points, models fixed)."""
    codes_train, factors_train = check_codes_factors(codes_train, factors_train, "dci (train)")
    codes_test, factors_test = check_codes_factors(codes_test, factors_test, "dci (test)")
    if codes_train.shape[1] != codes_test.shape[1] or factors_train.shape[1] != factors_test.shape[1]:
        raise ValueError("dci: train and test must have the same code and factor dimensions")
    keep = varying(factors_train)
    if keep.size == 0:
        raise ValueError("dci: every factor has a single value; DCI is undefined")
    r, train_acc, hits = importance_matrix(codes_train, factors_train[:, keep], codes_test,
                                           factors_test[:, keep], random_state)
    out = {"disentanglement": disentanglement(r), "completeness": completeness(r),
           "informativeness_train": train_acc, "informativeness_test": float(hits.mean())}
    if rng is not None:
        out["informativeness_test_se"] = bootstrap_se(lambda rows: float(hits[rows].mean()), len(hits), rng)
    return out
