"""Modularity and explicitness (Ridgeway & Mozer 2018), as disentanglement_lib computes them.

Modularity asks whether each code dimension depends on at most one factor. Each code dim is
discretised into ``num_bins`` equal-width bins over its observed range (the histogram discretiser
MIG uses, :func:`analysis.metrics.mig.discretize`, the reference's default with 20 bins) and
m_if = I(z_i; v_f) is the plug-in mutual information (nats) of code dim i and factor f. With
θ_i = max_f m_if and N the number of factors, the paper's deviation from an ideally modular code
(Ridgeway & Mozer 2018, Sec. 3) is

    δ_i = Σ_{f ≠ argmax} m_if² / (θ_i² (N − 1)),        modularity = mean_i (1 − δ_i),

0 when only one factor shares information with the dim and 1 when all share the same amount. A dim
sharing nothing with any factor (θ_i = 0, e.g. a constant dim) scores 0, as in the reference; with
a single varying factor δ_i = 0. Only the training points enter, as in the reference.

Explicitness asks whether every factor value is linearly decodable from the whole code. Codes are
standardised with the training mean and std (a constant dim keeps std 1 instead of dividing by
zero). For each value c of each factor a one-vs-rest logistic regression (liblinear, C = 1) is
fitted on the training points; the score of value c is its probability renormalised over the
factor's values, p_c = σ(w_c·z + b_c) / Σ_c' σ(w_c'·z + b_c') (a binary factor: one classifier,
[1 − p, p]) — exactly what the reference's ``LogisticRegression().predict_proba`` computed with the
scikit-learn of its time (≤ 0.21: liblinear, one-vs-rest, renormalised). The ROC-AUC of p_c is
computed on the training and on the test points (the Mann–Whitney statistic: the fraction of
(value-c, other) point pairs that p_c orders correctly, ties at half), and explicitness = mean over factors of
the mean AUC over values (``roc_auc_score``'s macro average). The renormalisation matters: p_c is
not monotone in z, so a middle value of an ordinal factor on one dim gets AUC ≈ 1, whereas the raw
one-vs-rest decision function, linear in z, cannot rank an interval and scores ≈ 0.5 there. A value
missing from the scored points (no positives) or absent in training (no classifier) is skipped.

Names: the reference returns ``modularity_score``, ``explicitness_score_train`` and
``explicitness_score_test``; here ``modularity``, ``explicitness_train`` and ``explicitness_test``.
Run under today's scikit-learn the reference's ``LogisticRegression()`` is one multinomial
(softmax) fit per factor instead; on a perfect code that gives 1.0 where this module gives ≈ 0.98.

Range 0..1; noise: explicitness ≈ 0.5. Known biases: the plug-in MI of a noise dim is its upward
bias, ≈ (bins − 1)(values − 1) / 2n, larger for factors with more values, so a pure-noise code is
not "unmodular": its MIs are unequal and modularity stays well above 0. Modularity does not ask for
information either: one informative dim and many noise dims can be modular. Factors with a single
value are skipped.

Uncertainty (given ``rng``): ``modularity_se`` is the bootstrap over training points (bins and MIs
recomputed per resample); ``explicitness_test_se`` the bootstrap over test points with the
classifiers fixed, as multiplicity weights on the sorted scores (refitting one classifier per
factor value per resample would multiply the fitting cost by the resample count), so it leaves out
the spread from the training sample. ``explicitness_train`` gets no SE: it is a fit diagnostic.
"""

from __future__ import annotations

import numpy as np
import scipy.special
from sklearn.linear_model import LogisticRegression

from analysis.metrics._common import check_codes_factors, varying
from analysis.metrics.mig import discretize, mutual_info_matrix
from analysis.metrics.uncertainty import bootstrap_se


def modularity_from_mi(mi: np.ndarray) -> float:
    """Mean over code dims of 1 − δ_i for a (d, N) mutual-information matrix (see module doc)."""
    squared = np.square(mi)
    top = squared.max(axis=1)
    n_factors = squared.shape[1]
    if n_factors < 2:
        return float(np.mean(top > 0))
    delta = np.divide(squared.sum(axis=1) - top, top * (n_factors - 1), out=np.ones_like(top), where=top > 0)
    return float(np.mean(np.where(top > 0, 1.0 - delta, 0.0)))


def _modularity(codes: np.ndarray, factors: np.ndarray, num_bins: int) -> float:
    kept = varying(factors)
    return modularity_from_mi(mutual_info_matrix(discretize(codes, num_bins), factors[:, kept]))


def modularity(codes, factors, num_bins: int = 20) -> float:
    """Modularity of ``codes`` (n, d) against discrete ``factors`` (n, k)."""
    codes, factors = check_codes_factors(codes, factors, "modularity")
    if num_bins < 2:
        raise ValueError(f"num_bins: must be >= 2, got {num_bins}")
    if varying(factors).size == 0:
        raise ValueError("modularity: every factor has a single value; modularity is undefined")
    return _modularity(codes, factors, num_bins)


def auc_table(labels: np.ndarray, scores: np.ndarray, classes: np.ndarray):
    """``auc(weights=None) -> (C,)``: the one-vs-rest ROC-AUC of ``scores[:, c]`` for class
    ``classes[c]`` with point i counted ``weights[i]`` times (once each for None),

        AUC_c = Σ_{i: y_i = c} Σ_{j: y_j ≠ c} w_i w_j ([s_i > s_j] + ½ [s_i = s_j]) / (W_pos W_neg),

    NaN without both positives and negatives. The scores are sorted once; each call only sums the
    weights per tie group, so a bootstrap resample (weights = multiplicities) costs no sort."""
    n, n_classes = scores.shape
    if n_classes != len(classes):
        raise ValueError(f"auc: {n_classes} score columns for {len(classes)} classes")
    order = np.argsort(scores, axis=0, kind="stable").T
    ranked = np.take_along_axis(scores.T, order, axis=1)
    new_value = np.concatenate([np.ones((n_classes, 1), bool), ranked[:, 1:] != ranked[:, :-1]], axis=1)
    flat = (np.cumsum(new_value, axis=1) - 1 + n * np.arange(n_classes)[:, None]).ravel()
    positive = labels[order] == np.asarray(classes)[:, None]

    def auc(weights=None) -> np.ndarray:
        w = np.ones(n)[order] if weights is None else np.asarray(weights, dtype=np.float64)[order]
        w_pos = w * positive
        g_pos = np.bincount(flat, w_pos.ravel(), n * n_classes).reshape(n_classes, n)
        g_neg = np.bincount(flat, (w - w_pos).ravel(), n * n_classes).reshape(n_classes, n)
        wins = np.sum(g_pos * (np.cumsum(g_neg, axis=1) - 0.5 * g_neg), axis=1)
        pairs = g_pos.sum(axis=1) * g_neg.sum(axis=1)
        return np.divide(wins, pairs, out=np.full(n_classes, np.nan), where=pairs > 0)

    return auc


def auc_per_class(labels: np.ndarray, scores: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """One-vs-rest ROC-AUC of ``scores[:, c]`` for class ``classes[c]`` (NaN where undefined)."""
    return auc_table(labels, scores, classes)()


def _class_scores(x_train, y_train, xs) -> tuple[np.ndarray, list[np.ndarray]]:
    """Classes of ``y_train`` and, for each array in ``xs``, the (n, C) one-vs-rest probabilities
    renormalised over the classes (one classifier for a binary factor: [1 − p, p])."""
    classes = np.unique(y_train)
    fitted = classes[1:] if len(classes) == 2 else classes
    models = [LogisticRegression(C=1.0, solver="liblinear", random_state=0).fit(x_train, y_train == value)
              for value in fitted]
    out = []
    for x in xs:
        p = scipy.special.expit(np.stack([m.decision_function(x) for m in models], axis=1))
        out.append(np.concatenate([1.0 - p, p], axis=1) if len(classes) == 2 else p / p.sum(axis=1, keepdims=True))
    return classes, out


def _explicitness(per_factor) -> float:
    """Mean over factors of the mean AUC over the factor's scorable values."""
    means = [np.nanmean(auc) for auc in per_factor if np.isfinite(auc).any()]
    return float(np.mean(means)) if means else float("nan")


def explicitness_parts(codes_train, factors_train, codes_test, factors_test):
    """Per factor: (classes, train class scores, test class scores), codes standardised."""
    mean, std = codes_train.mean(axis=0), codes_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    x_train, x_test = (codes_train - mean) / std, (codes_test - mean) / std
    parts = []
    for f in range(factors_train.shape[1]):
        classes, (s_train, s_test) = _class_scores(x_train, factors_train[:, f], [x_train, x_test])
        parts.append((classes, s_train, s_test))
    return parts


def _checked(codes_train, factors_train, codes_test, factors_test, num_bins):
    codes_train, factors_train = check_codes_factors(codes_train, factors_train, "modularity (train)")
    codes_test, factors_test = check_codes_factors(codes_test, factors_test, "modularity (test)")
    if codes_train.shape[1] != codes_test.shape[1] or factors_train.shape[1] != factors_test.shape[1]:
        raise ValueError("modularity: train and test must have the same code and factor dimensions")
    if num_bins < 2:
        raise ValueError(f"num_bins: must be >= 2, got {num_bins}")
    keep = varying(factors_train)
    if keep.size == 0:
        raise ValueError("modularity: every factor has a single value; modularity is undefined")
    return codes_train, factors_train[:, keep], codes_test, factors_test[:, keep]


def modularity_explicitness(codes_train, factors_train, codes_test, factors_test, rng=None,
                            num_bins: int = 20, num_resamples: int = 100) -> dict:
    """modularity (train points), explicitness_train and explicitness_test, and, given ``rng``,
    modularity_se and explicitness_test_se (bootstrap; see the module doc)."""
    ct, ft, ce, fe = _checked(codes_train, factors_train, codes_test, factors_test, num_bins)
    parts = explicitness_parts(ct, ft, ce, fe)
    train = [auc_per_class(ft[:, f], s_train, classes) for f, (classes, s_train, _) in enumerate(parts)]
    tables = [auc_table(fe[:, f], s_test, classes) for f, (classes, _, s_test) in enumerate(parts)]
    out = {"modularity": _modularity(ct, ft, num_bins), "explicitness_train": _explicitness(train),
           "explicitness_test": _explicitness([table() for table in tables])}
    if rng is not None:
        out["modularity_se"] = bootstrap_se(lambda rows: _modularity(ct[rows], ft[rows], num_bins),
                                            len(ct), rng, num_resamples)

        def resampled(rows: np.ndarray) -> float:
            counts = np.bincount(rows, minlength=len(ce))
            return _explicitness([table(counts) for table in tables])

        out["explicitness_test_se"] = bootstrap_se(resampled, len(ce), rng, num_resamples)
    return out


def score(ctx, num_train: int, num_test: int) -> dict:
    """The scorer (:data:`analysis.catalogue.SCORERS`): modularity and explicitness, with SEs."""
    (train_f, train_c), (test_f, test_c) = ctx.split(num_train, num_test)
    m = modularity_explicitness(train_c, train_f, test_c, test_f, rng=ctx.rng, num_resamples=ctx.bootstrap)
    return {"modularity": m["modularity"], "modularity_se": m["modularity_se"],
            "explicitness": m["explicitness_test"], "explicitness_se": m["explicitness_test_se"],
            "explicitness_train": m["explicitness_train"]}
