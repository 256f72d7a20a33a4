"""The FactorVAE metric (Kim & Mnih 2018): a majority-vote classifier on normalised variances.

Global per-dimension variances come from ``num_variance_estimate`` random points (ddof = 1);
dimensions with standard deviation < ``prune_threshold`` (collapsed, inactive) are dropped. For
each training point: fix a factor k (uniform among factors with more than one value) over a batch
of ``batch_size`` points, compute the per-dimension variance of their codes divided by the global
variance, and vote (k, argmin over kept dims). The classifier maps each kept dim to the factor
with most votes; accuracy = share of votes that agree with it, on ``num_train`` train and
``num_eval`` fresh eval points; the score is the eval accuracy.

Chance level: 1 / #varying factors (dSprites: 5). When *every* dimension is pruned (a fully
collapsed code), the metric is 0 for both accuracies, as in the reference implementation, and
``num_active_dims`` is 0. Known bias: a factor encoded in two dims still scores well as long as
one dim's variance drops when it is fixed.
"""

from __future__ import annotations

import numpy as np

from analysis.metrics._common import integers, represent_in_chunks, varying_sizes


def fixed_factor_batches(data, num_points: int, batch_size: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Labels k (P,) and factor batches (P, B, K) in which factor k is fixed within each batch."""
    candidates = varying_sizes(data.factor_sizes)
    labels = candidates[integers(rng, len(candidates), num_points)]
    k = len(data.factor_sizes)
    f = data.sample_factors(num_points * batch_size, rng).reshape(num_points, batch_size, k)
    rows = np.arange(num_points)
    f[rows, :, labels] = f[rows, 0, labels][:, None]
    return labels, f


def votes(data, represent, labels: np.ndarray, batches: np.ndarray, global_var: np.ndarray,
          active: np.ndarray) -> np.ndarray:
    """Vote matrix (#factors, #dims): votes[k, d] counts points with label k whose argmin is d."""
    p, b, k = batches.shape
    codes = represent_in_chunks(data, represent, batches.reshape(p * b, k)).reshape(p, b, -1)
    local = codes.var(axis=1, ddof=1)
    ratio = local[:, active] / global_var[active]
    argmin = np.flatnonzero(active)[np.argmin(ratio, axis=1)]
    out = np.zeros((len(data.factor_sizes), codes.shape[2]), dtype=np.int64)
    np.add.at(out, (labels, argmin), 1)
    return out


def factor_vae_score(data, represent, rng, batch_size: int = 64, num_train: int = 10000,
                     num_eval: int = 5000, num_variance_estimate: int = 10000,
                     prune_threshold: float = 0.05) -> dict:
    """FactorVAE metric: {"train_accuracy", "eval_accuracy", "num_active_dims"}."""
    if batch_size < 2 or num_variance_estimate < 2:
        raise ValueError("factor_vae_score: batch_size and num_variance_estimate must be >= 2 (variances)")
    codes = represent_in_chunks(data, represent, data.sample_factors(num_variance_estimate, rng))
    global_var = codes.var(axis=0, ddof=1)
    active = np.sqrt(global_var) >= prune_threshold
    if not active.any():
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}
    labels, batches = fixed_factor_batches(data, num_train, batch_size, rng)
    train_votes = votes(data, represent, labels, batches, global_var, active)
    classifier = np.argmax(train_votes, axis=0)
    dims = np.arange(train_votes.shape[1])
    train_acc = train_votes[classifier, dims].sum() / train_votes.sum()
    labels, batches = fixed_factor_batches(data, num_eval, batch_size, rng)
    eval_votes = votes(data, represent, labels, batches, global_var, active)
    eval_acc = eval_votes[classifier, dims].sum() / eval_votes.sum()
    return {"train_accuracy": float(train_acc), "eval_accuracy": float(eval_acc),
            "num_active_dims": int(active.sum())}
