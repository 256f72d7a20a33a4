"""SAP, the Separated Attribute Predictability score (Kumar et al. 2018).

For every (code dim j, factor k) pair a one-feature classifier — ``LinearSVC(C=0.01,
class_weight="balanced")`` — predicts factor k from z_j; its test accuracy is S[j, k] (with
``continuous=True`` instead S[j, k] = cov(z_j, v_k)² / (var z_j · var v_k), the R² of a linear
fit, 0 for a constant dim). SAP = mean over factors of (best − second best) over code dims.

Range 0..1; noise ≈ 0. Known bias: in the discrete form, the balanced linear SVM on one
dimension cannot separate many classes with a single threshold, so even a perfect code scores
only around 0.5 on a factor with many values. Factors with a single value are skipped.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import LinearSVC

from analysis.metrics._common import check_codes_factors, varying


def score_matrix(codes_train, factors_train, codes_test, factors_test, continuous=False) -> np.ndarray:
    """S (d, k): per-pair predictability."""
    d, k = codes_train.shape[1], factors_train.shape[1]
    s = np.zeros((d, k))
    for j in range(d):
        for i in range(k):
            if continuous:
                cov = np.cov(codes_train[:, j], factors_train[:, i], ddof=1)
                var_z, var_v = cov[0, 0], cov[1, 1]
                s[j, i] = cov[0, 1] ** 2 / (var_z * var_v) if var_z > 1e-12 and var_v > 0 else 0.0
            else:
                model = LinearSVC(C=0.01, class_weight="balanced")
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    model.fit(codes_train[:, j:j + 1], factors_train[:, i])
                s[j, i] = np.mean(model.predict(codes_test[:, j:j + 1]) == factors_test[:, i])
    return s


def sap(codes_train, factors_train, codes_test, factors_test, continuous: bool = False) -> float:
    """SAP score of a code against discrete (or, with ``continuous``, real-valued) factors."""
    codes_train, factors_train = check_codes_factors(codes_train, factors_train, "sap (train)")
    codes_test, factors_test = check_codes_factors(codes_test, factors_test, "sap (test)")
    keep = varying(factors_train)
    if keep.size == 0:
        raise ValueError("sap: every factor has a single value; SAP is undefined")
    s = score_matrix(codes_train, factors_train[:, keep], codes_test, factors_test[:, keep], continuous)
    if s.shape[0] < 2:
        return float(np.mean(s[0]))
    top = np.sort(s, axis=0)
    return float(np.mean(top[-1] - top[-2]))
