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
