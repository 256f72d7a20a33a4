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

Cost: the fits are independent per factor and deterministic (``random_state``), so with
``n_jobs`` > 1 they run at once in worker processes (:mod:`analysis.metrics.parallel`), the
factor with most classes first, and give the same matrix to the last bit as one after another.
:func:`dci_start` starts them and returns the function that waits: ``score_model`` computes the
other metrics meanwhile, and the bootstrap's resamples are drawn before the wait, so the numpy
stream moves on exactly as after a serial :func:`dci`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.stats
from sklearn.ensemble import GradientBoostingClassifier

from analysis.metrics._common import check_codes_factors, seed_from, varying
from analysis.metrics.parallel import submit_all
from analysis.metrics.uncertainty import resample_rows, se_over_resamples


def fit_factor(codes_train, labels_train, codes_test, random_state=0):
    """One factor's GBT: (|feature importances| (d,), train accuracy, test predictions (n_test,))."""
    model = GradientBoostingClassifier(random_state=random_state).fit(codes_train, labels_train)
    return (np.abs(model.feature_importances_), float(np.mean(model.predict(codes_train) == labels_train)),
            model.predict(codes_test))


def start_importances(codes_train, factors_train, codes_test, factors_test, random_state=0,
                      n_jobs: int = 1) -> Callable[[], tuple[np.ndarray, float, np.ndarray]]:
    """Start one GBT per factor (``n_jobs`` at once); the returned function waits for them and
    gives (R (d, k), mean train accuracy, test hits (n_test, k))."""
    k = factors_train.shape[1]
    longest_first = sorted(range(k), key=lambda i: -np.unique(factors_train[:, i]).size)
    pending = submit_all(fit_factor, [(codes_train, factors_train[:, i], codes_test, random_state)
                                      for i in longest_first], n_jobs)

    def wait() -> tuple[np.ndarray, float, np.ndarray]:
        fits = dict(zip(longest_first, pending(), strict=True))
        r = np.stack([fits[i][0] for i in range(k)], axis=1)
        train_acc = [fits[i][1] for i in range(k)]
        hits = np.stack([fits[i][2] == factors_test[:, i] for i in range(k)], axis=1)
        return r, float(np.mean(train_acc)), hits

    return wait


def importance_matrix(codes_train, factors_train, codes_test, factors_test, random_state=0, n_jobs: int = 1):
    """(R (d, k), mean train accuracy, test hits (n_test, k)) with one GBT per factor."""
    return start_importances(codes_train, factors_train, codes_test, factors_test, random_state, n_jobs)()


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


def dci_start(codes_train, factors_train, codes_test, factors_test, random_state: int = 0, rng=None,
              n_jobs: int = 1, num_resamples: int = 100) -> Callable[[], dict]:
    """Start :func:`dci`'s fits and draw its bootstrap resamples from ``rng`` now; the returned
    function waits for the fits and gives the scores (see :func:`dci`)."""
    codes_train, factors_train = check_codes_factors(codes_train, factors_train, "dci (train)")
    codes_test, factors_test = check_codes_factors(codes_test, factors_test, "dci (test)")
    if codes_train.shape[1] != codes_test.shape[1] or factors_train.shape[1] != factors_test.shape[1]:
        raise ValueError("dci: train and test must have the same code and factor dimensions")
    keep = varying(factors_train)
    if keep.size == 0:
        raise ValueError("dci: every factor has a single value; DCI is undefined")
    wait = start_importances(codes_train, factors_train[:, keep], codes_test, factors_test[:, keep],
                             random_state, n_jobs)
    rows = resample_rows(len(codes_test), rng, num_resamples) if rng is not None else None

    def scores() -> dict:
        r, train_acc, hits = wait()
        out = {"disentanglement": disentanglement(r), "completeness": completeness(r),
               "informativeness_train": train_acc, "informativeness_test": float(hits.mean())}
        if rows is not None:
            out["informativeness_test_se"] = se_over_resamples(lambda resample: float(hits[resample].mean()), rows)
        return out

    return scores


def dci(codes_train, factors_train, codes_test, factors_test, random_state: int = 0, rng=None,
        n_jobs: int = 1) -> dict:
    """DCI scores: disentanglement, completeness, informativeness_train, informativeness_test,
    and, given ``rng``, informativeness_test_se (bootstrap over test points, models fixed).
    ``n_jobs``: factors fitted at once (the scores do not depend on it)."""
    return dci_start(codes_train, factors_train, codes_test, factors_test, random_state, rng, n_jobs)()


def score(ctx, num_train: int, num_test: int) -> Callable[[], dict]:
    """The scorer (:data:`analysis.catalogue.SCORERS`): starts DCI's fits in ``ctx.n_jobs`` workers
    and returns the function that waits for them (the registry calls it after the other scorers)."""
    (train_f, train_c), (test_f, test_c) = ctx.split(num_train, num_test)
    started = dci_start(train_c, train_f, test_c, test_f, random_state=seed_from(ctx.rng), rng=ctx.rng,
                        n_jobs=ctx.n_jobs)

    def scores() -> dict:
        d = started()
        return {"dci_disentanglement": d["disentanglement"], "dci_completeness": d["completeness"],
                "dci_informativeness": d["informativeness_test"],
                "dci_informativeness_se": d["informativeness_test_se"],
                "dci_informativeness_train": d["informativeness_train"]}

    return scores
