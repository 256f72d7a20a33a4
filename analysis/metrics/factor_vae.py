"""The FactorVAE metric (Kim & Mnih 2018): a majority-vote classifier on normalised variances.

Global per-dimension variances come from ``num_variance_estimate`` random points (ddof = 1);
dimensions with standard deviation < ``prune_threshold`` (collapsed, inactive) are dropped. For
each training point: fix a factor k (uniform among factors with more than one value) over a batch
of ``batch_size`` points, compute the per-dimension variance of their codes divided by the global
variance, and vote (k, argmin over kept dims). The classifier maps each kept dim to the factor
with most votes; accuracy = share of votes that agree with it, on ``num_train`` train and
``num_eval`` fresh eval points; the score is the eval accuracy, with its binomial standard error.

Chance level: 1 / #varying factors (dSprites: 5). When *every* dimension is pruned (a fully
collapsed code), the metric is 0 for both accuracies, as in the reference implementation, and
``num_active_dims`` is 0. Known bias: a factor encoded in two dims still scores well as long as
one dim's variance drops when it is fixed.
"""

from __future__ import annotations

import numpy as np

from analysis.metrics._common import integers, varying_sizes
from analysis.metrics.uncertainty import binomial_se


def fixed_factor_batches(codes, num_points: int, batch_size: int, rng):
    """Labels k (P,), factors (P, B, K) with factor k fixed within each batch, codes (P, B, D)."""
    candidates = varying_sizes(codes.factor_sizes)
    labels = candidates[integers(rng, len(candidates), num_points)]
    anchors, _ = codes.sample(num_points, rng)
    fixed = np.repeat(labels, batch_size)
    factors, c = codes.matching(np.repeat(anchors, batch_size, axis=0), fixed, rng)
    return labels, factors.reshape(num_points, batch_size, -1), c.reshape(num_points, batch_size, -1)


def votes(labels: np.ndarray, batch_codes: np.ndarray, global_var: np.ndarray, active: np.ndarray,
          num_factors: int) -> np.ndarray:
    """Vote matrix (#factors, #dims): votes[k, d] counts points with label k whose argmin is d."""
    local = batch_codes.var(axis=1, ddof=1)
    ratio = local[:, active] / global_var[active]
    argmin = np.flatnonzero(active)[np.argmin(ratio, axis=1)]
    out = np.zeros((num_factors, batch_codes.shape[2]), dtype=np.int64)
    np.add.at(out, (labels, argmin), 1)
    return out


def factor_vae_score(codes, rng, batch_size: int = 64, num_train: int = 10000, num_eval: int = 5000,
                     num_variance_estimate: int = 10000, prune_threshold: float = 0.05) -> dict:
    """FactorVAE metric: {"train_accuracy", "eval_accuracy", "eval_accuracy_se", "num_active_dims"}."""
    if batch_size < 2 or num_variance_estimate < 2:
        raise ValueError("factor_vae_score: batch_size and num_variance_estimate must be >= 2 (variances)")
    _, sample = codes.sample(num_variance_estimate, rng)
    global_var = sample.var(axis=0, ddof=1)
    active = np.sqrt(global_var) >= prune_threshold
    if not active.any():
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "eval_accuracy_se": 0.0, "num_active_dims": 0}
    k = len(codes.factor_sizes)
    labels, _, batch = fixed_factor_batches(codes, num_train, batch_size, rng)
    train_votes = votes(labels, batch, global_var, active, k)
    classifier = np.argmax(train_votes, axis=0)
    dims = np.arange(train_votes.shape[1])
    train_acc = train_votes[classifier, dims].sum() / train_votes.sum()
    labels, _, batch = fixed_factor_batches(codes, num_eval, batch_size, rng)
    eval_votes = votes(labels, batch, global_var, active, k)
    eval_acc = float(eval_votes[classifier, dims].sum() / eval_votes.sum())
    return {"train_accuracy": float(train_acc), "eval_accuracy": eval_acc,
            "eval_accuracy_se": binomial_se(eval_acc, num_eval), "num_active_dims": int(active.sum())}


def score(ctx, num_train: int, num_eval: int, num_variance: int) -> dict:
    """The scorer (:data:`analysis.catalogue.SCORERS`): FactorVAE score on the code source."""
    f = factor_vae_score(ctx.codes, ctx.rng, ctx.batch_size, num_train, num_eval, num_variance)
    return {"factor_vae_score": f["eval_accuracy"], "factor_vae_score_se": f["eval_accuracy_se"],
            "factor_vae_active_dims": float(f["num_active_dims"])}
