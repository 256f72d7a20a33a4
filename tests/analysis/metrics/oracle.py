"""Plain loop-by-loop implementations of the metric definitions: the oracle for the vectorised code."""

import numpy as np
from sklearn.metrics import mutual_info_score


def mig_loop(codes, factors, num_bins=20):
    """MIG exactly as written: per dim histogram bins, sklearn MI per pair, entropy = MI(v, v)."""
    d, k = codes.shape[1], factors.shape[1]
    disc = np.zeros(codes.shape, dtype=int)
    for j in range(d):
        disc[:, j] = np.digitize(codes[:, j], np.histogram(codes[:, j], num_bins)[1][:-1])
    gaps = []
    for f in range(k):
        if len(np.unique(factors[:, f])) < 2:
            continue
        mis = sorted((mutual_info_score(factors[:, f], disc[:, j]) for j in range(d)), reverse=True)
        second = mis[1] if len(mis) > 1 else 0.0
        gaps.append((mis[0] - second) / mutual_info_score(factors[:, f], factors[:, f]))
    return float(np.mean(gaps))


def beta_vae_features_loop(data, represent, f1, f2):
    """One point at a time: encode its two batches, mean absolute difference."""
    out = []
    for p in range(f1.shape[0]):
        r1 = np.asarray(represent(data.observations(f1[p])))
        r2 = np.asarray(represent(data.observations(f2[p])))
        out.append(np.mean(np.abs(r1 - r2), axis=0))
    return np.array(out)


def factor_vae_votes_loop(data, represent, labels, batches, global_var, active):
    votes = np.zeros((len(data.factor_sizes), global_var.shape[0]), dtype=np.int64)
    for p in range(batches.shape[0]):
        reps = np.asarray(represent(data.observations(batches[p])))
        local = np.var(reps, axis=0, ddof=1)
        best, best_d = np.inf, -1
        for d in range(len(local)):
            if active[d] and local[d] / global_var[d] < best:
                best, best_d = local[d] / global_var[d], d
        votes[labels[p], best_d] += 1
    return votes


def bootstrap_se_loop(statistic, n, rng, num_resamples):
    """Bootstrap SE written out: resample n row indices with replacement B times, std (ddof 1)."""
    values = []
    for _ in range(num_resamples):
        values.append(statistic(rng.integers(0, n, n)))
    mean = sum(values) / len(values)
    return (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5


def _histogram_bins(x, num_bins):
    """The reference's histogram discretiser on one column."""
    return np.digitize(x, np.histogram(x, num_bins)[1][:-1])


def modularity_loop(codes, factors, num_bins=20):
    """Ridgeway & Mozer's modularity written out: per code dim, squared MIs against every factor."""
    kept = [f for f in range(factors.shape[1]) if len(np.unique(factors[:, f])) > 1]
    scores = []
    for j in range(codes.shape[1]):
        bins = _histogram_bins(codes[:, j], num_bins)
        squared = [mutual_info_score(factors[:, f], bins) ** 2 for f in kept]
        top = max(squared)
        if top == 0:
            scores.append(0.0)
        elif len(kept) == 1:
            scores.append(1.0)
        else:
            scores.append(1.0 - (sum(squared) - top) / (top * (len(kept) - 1)))
    return sum(scores) / len(scores)


def auc_loop(labels, scores, positive):
    """ROC-AUC by counting, over every (positive, negative) pair, which one scores higher."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y == positive]
    neg = [s for s, y in zip(scores, labels, strict=True) if y != positive]
    if not pos or not neg:
        return None
    wins = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


def explicitness_loop(codes_train, factors_train, codes_test, factors_test):
    """(train, test) explicitness: scikit-learn's one-vs-rest wrapper around liblinear logistic
    regression (its predict_proba renormalises over classes), pairwise-counted AUC per value."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    mean, std = codes_train.mean(axis=0), codes_train.std(axis=0)
    std[std == 0] = 1.0
    x_train, x_test = (codes_train - mean) / std, (codes_test - mean) / std
    out = []
    for x, y_all in ((x_train, factors_train), (x_test, factors_test)):
        per_factor = []
        for f in range(factors_train.shape[1]):
            if len(np.unique(factors_train[:, f])) < 2:
                continue
            clf = OneVsRestClassifier(LogisticRegression(C=1.0, solver="liblinear", random_state=0))
            proba = clf.fit(x_train, factors_train[:, f]).predict_proba(x)
            aucs = [auc_loop(y_all[:, f], proba[:, c], value) for c, value in enumerate(clf.classes_)]
            aucs = [a for a in aucs if a is not None]
            per_factor.append(sum(aucs) / len(aucs))
        out.append(sum(per_factor) / len(per_factor))
    return tuple(out)


def irs_loop(codes, factors, diff_quantile=0.99, factor_bins=20):
    """IRS as disentanglement_lib writes it: histogram-discretised factors, active dims of nonzero
    variance, per (dim, factor, value) the quantile of the within-group deviations, weighted mean."""
    if factor_bins is not None:
        factors = np.stack([_histogram_bins(factors[:, f], factor_bins) for f in range(factors.shape[1])], axis=1)
    kept = [f for f in range(factors.shape[1]) if len(np.unique(factors[:, f])) > 1]
    active = [j for j in range(codes.shape[1]) if np.var(codes[:, j]) > 0]
    scores, weights = [], []
    for j in active:
        z = codes[:, j]
        overall = sum(z) / len(z)
        max_dev = max(abs(v - overall) for v in z)
        best = -np.inf
        for f in kept:
            values = np.unique(factors[:, f])
            total = 0.0
            for v in values:
                group = [z[i] for i in range(len(z)) if factors[i, f] == v]
                centre = sum(group) / len(group)
                total += np.percentile([abs(g - centre) for g in group], diff_quantile * 100)
            best = max(best, 1.0 - total / len(values) / max_dev)
        scores.append(best)
        weights.append(max_dev)
    if not active:
        return 0.0
    return sum(s * w for s, w in zip(scores, weights, strict=True)) / sum(weights)


def udr_pair_loop(a, b, method="spearman"):
    """UDR_ab (Duan et al. 2020) with scipy's Spearman per pair of latents or one Lasso per target."""
    import scipy.stats
    from sklearn.linear_model import Lasso
    from sklearn.preprocessing import StandardScaler

    d_a, d_b = a.shape[1], b.shape[1]
    r = np.zeros((d_a, d_b))
    if method == "spearman":
        for i in range(d_a):
            for j in range(d_b):
                r[i, j] = abs(scipy.stats.spearmanr(a[:, i], b[:, j])[0])
    else:
        xa, xb = StandardScaler().fit_transform(a), StandardScaler().fit_transform(b)
        for j in range(d_b):
            r[:, j] = np.abs(Lasso(alpha=0.1).fit(xa, xb[:, j]).coef_)
    total = 0.0
    for j in range(d_b):
        column = [r[i, j] for i in range(d_a)]
        total += max(column) ** 2 / sum(column) if sum(column) > 0 else 0.0
    for i in range(d_a):
        row = [r[i, j] for j in range(d_b)]
        total += max(row) ** 2 / sum(row) if sum(row) > 0 else 0.0
    return total / (d_a + d_b)


def dci_loop(codes_train, factors_train, codes_test, factors_test, random_state=0):
    """DCI as disentanglement_lib's dci.py writes it: one GradientBoostingClassifier per factor in
    turn, |importances| as the columns of R, D and C from the entropies of R's rows and columns;
    returns (D, C, mean train accuracy, mean test accuracy)."""
    import scipy.stats
    from sklearn.ensemble import GradientBoostingClassifier

    importance = np.zeros((codes_train.shape[1], factors_train.shape[1]))
    train_acc, test_acc = [], []
    for i in range(factors_train.shape[1]):
        model = GradientBoostingClassifier(random_state=random_state)
        model.fit(codes_train, factors_train[:, i])
        importance[:, i] = np.abs(model.feature_importances_)
        train_acc.append(np.mean(model.predict(codes_train) == factors_train[:, i]))
        test_acc.append(np.mean(model.predict(codes_test) == factors_test[:, i]))
    per_code = 1.0 - scipy.stats.entropy(importance.T + 1e-11, base=importance.shape[1])
    code_importance = importance.sum(axis=1) / importance.sum()
    d = np.sum(per_code * code_importance)
    per_factor = 1.0 - scipy.stats.entropy(importance + 1e-11, base=importance.shape[0])
    factor_importance = importance.sum(axis=0) / importance.sum()
    c = np.sum(per_factor * factor_importance)
    return float(d), float(c), float(np.mean(train_acc)), float(np.mean(test_acc))
