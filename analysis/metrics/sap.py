"""SAP, the Separated Attribute Predictability score (Kumar et al. 2018).

For every (code dim j, factor k) pair a one-feature classifier — ``LinearSVC(C=0.01,
class_weight="balanced")`` — predicts factor k from z_j; its test accuracy is S[j, k] (with
``continuous=True`` instead S[j, k] = cov(z_j, v_k)² / (var z_j · var v_k), the R² of a linear
fit, 0 for a constant dim). SAP = mean over factors of (best − second best) over code dims.

Range 0..1; noise ≈ 0. Known bias: in the discrete form, the balanced linear SVM on one
dimension cannot separate many classes with a single threshold, so even a perfect code scores
only around 0.5 on a factor with many values. Factors with a single value are skipped. The
standard error (:func:`sap_with_se`) bootstraps the test points with the classifiers fixed.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import LinearSVC

from analysis.metrics._common import check_codes_factors, varying
from analysis.metrics.uncertainty import bootstrap_se


def _fit_predict(codes_train, factors_train, codes_test) -> np.ndarray:
    """Test predictions (d, k, n_test) of one balanced LinearSVC per (code dim, factor) pair."""
    d, k = codes_train.shape[1], factors_train.shape[1]
    out = np.empty((d, k, codes_test.shape[0]), dtype=factors_train.dtype)
    for j in range(d):
        for i in range(k):
            model = LinearSVC(C=0.01, class_weight="balanced")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(codes_train[:, j:j + 1], factors_train[:, i])
            out[j, i] = model.predict(codes_test[:, j:j + 1])
    return out


def _r2_matrix(codes, factors) -> np.ndarray:
    """S[j, k] = cov(z_j, v_k)² / (var z_j · var v_k), 0 for a constant dim."""
    s = np.zeros((codes.shape[1], factors.shape[1]))
    for j in range(codes.shape[1]):
        for i in range(factors.shape[1]):
            cov = np.cov(codes[:, j], factors[:, i], ddof=1)
            var_z, var_v = cov[0, 0], cov[1, 1]
            s[j, i] = cov[0, 1] ** 2 / (var_z * var_v) if var_z > 1e-12 and var_v > 0 else 0.0
    return s


def score_matrix(codes_train, factors_train, codes_test, factors_test, continuous=False) -> np.ndarray:
    """S (d, k): per-pair predictability."""
    if continuous:
        return _r2_matrix(codes_train, factors_train)
    return (_fit_predict(codes_train, factors_train, codes_test) == factors_test.T[None]).mean(axis=2)


def gap(s: np.ndarray) -> float:
    """Mean over factors of the best minus the second-best entry of S's column."""
    if s.shape[0] < 2:
        return float(np.mean(s[0]))
    top = np.sort(s, axis=0)
    return float(np.mean(top[-1] - top[-2]))


def _checked(codes_train, factors_train, codes_test, factors_test):
    codes_train, factors_train = check_codes_factors(codes_train, factors_train, "sap (train)")
    codes_test, factors_test = check_codes_factors(codes_test, factors_test, "sap (test)")
    keep = varying(factors_train)
    if keep.size == 0:
        raise ValueError("sap: every factor has a single value; SAP is undefined")
    return codes_train, factors_train[:, keep], codes_test, factors_test[:, keep]


def sap(codes_train, factors_train, codes_test, factors_test, continuous: bool = False) -> float:
    """SAP score of a code against discrete (or, with ``continuous``, real-valued) factors."""
    return gap(score_matrix(*_checked(codes_train, factors_train, codes_test, factors_test), continuous))


def sap_with_se(codes_train, factors_train, codes_test, factors_test, rng,
                num_resamples: int = 100) -> tuple[float, float]:
    """(SAP, its bootstrap SE over the test points): the classifiers are fitted once, the test
    points resampled with replacement (refitting per resample would multiply the d·k fits)."""
    ct, ft, ce, fe = _checked(codes_train, factors_train, codes_test, factors_test)
    hits = _fit_predict(ct, ft, ce) == fe.T[None]
    se = bootstrap_se(lambda rows: gap(hits[:, :, rows].mean(axis=2)), hits.shape[2], rng, num_resamples)
    return gap(hits.mean(axis=2)), se


def score(ctx, num_train: int, num_test: int) -> dict:
    """The scorer (:data:`analysis.catalogue.SCORERS`): SAP on a train/test draw, with its SE."""
    (train_f, train_c), (test_f, test_c) = ctx.split(num_train, num_test)
    value, se = sap_with_se(train_c, train_f, test_c, test_f, ctx.rng, ctx.bootstrap)
    return {"sap": value, "sap_se": se}
