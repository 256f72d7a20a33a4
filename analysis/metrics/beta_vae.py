"""The BetaVAE metric (Higgins et al. 2017), with a scikit-learn linear classifier.

For each point: pick a factor k uniformly; draw two batches of ``batch_size`` factor vectors and
copy factor k from the first to the second; the feature is mean_b |r(x1_b) − r(x2_b)| (a vector
over code dims), the label is k. A linear classifier is trained on ``num_train`` points and scored
on ``num_eval`` fresh points; the score is the eval accuracy, with its binomial standard error.

The classifier. disentanglement_lib fits ``LogisticRegression(random_state=...)`` with the
scikit-learn defaults of its time (liblinear, one-vs-rest, C = 1, at most 100 iterations) on the
raw features. Today's default (lbfgs, multinomial, C = 1, 100 iterations) often stops at its
iteration cap on these features — their scale follows the code's, from ~0.005 for a collapsed
dim to ~0.5 for an active one — so the score depended on the cap. We keep the raw features and the
default solver and fit to convergence (``max_iter=5000``): ``benchmarks/metric_uncertainty.py``
shows the score stops moving by ~100 iterations on a trained model, and lands within one SE of
liblinear one-vs-rest (0.819 vs 0.818, 0.876 vs 0.871, 0.736 vs 0.723 on three checkpoints,
1,000 points; numbers in benchmarks/README.md).
Standardising the features would converge faster but reads higher (0.863 there): C = 1 then no
longer penalises reading collapsed, tiny-scale dims, so it is not the literature's metric.

Chance level: 1 / #factors, counting only factors with more than one value (dSprites: 5, since
colour is constant). A perfect code reaches ≈ 1. Known bias: the metric only asks that *some*
linear read-out finds the fixed factor, so a code can score high while a factor is spread over
several dimensions (Kim & Mnih 2018); it saturates easily.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from analysis.metrics._common import integers, seed_from, varying_sizes
from analysis.metrics.uncertainty import binomial_se

MAX_ITER = 5000


def sample_pairs(codes, num_points: int, batch_size: int, rng):
    """Labels k (P,), and (factors, codes) of the two batches, shaped (P·B, ·), sharing factor k."""
    candidates = varying_sizes(codes.factor_sizes)
    labels = candidates[integers(rng, len(candidates), num_points)]
    f1, c1 = codes.sample(num_points * batch_size, rng)
    f2, c2 = codes.matching(f1, np.repeat(labels, batch_size), rng)
    return labels, (f1, c1), (f2, c2)


def pair_features(c1: np.ndarray, c2: np.ndarray, batch_size: int) -> np.ndarray:
    """mean_b |r(x1_b) − r(x2_b)| per point, from codes laid out point by point (P·B, D)."""
    return np.abs(c1 - c2).reshape(-1, batch_size, c1.shape[1]).mean(axis=1)


def make_classifier(random_state: int, max_iter: int = MAX_ITER) -> LogisticRegression:
    """Multinomial logistic regression (lbfgs, C = 1) on the raw features, fitted to convergence."""
    return LogisticRegression(max_iter=max_iter, random_state=random_state)


def features_and_labels(codes, num_points: int, batch_size: int, rng) -> tuple[np.ndarray, np.ndarray]:
    labels, (_, c1), (_, c2) = sample_pairs(codes, num_points, batch_size, rng)
    return pair_features(c1, c2, batch_size), labels


def beta_vae_score(codes, rng, batch_size: int = 64, num_train: int = 10000, num_eval: int = 5000,
                   max_iter: int = MAX_ITER) -> dict:
    """BetaVAE metric on a code source: {"train_accuracy", "eval_accuracy", "eval_accuracy_se"}."""
    if num_train < 2 or num_eval < 1 or batch_size < 1:
        raise ValueError("beta_vae_score: num_train >= 2, num_eval >= 1 and batch_size >= 1 required")
    x_train, y_train = features_and_labels(codes, num_train, batch_size, rng)
    x_eval, y_eval = features_and_labels(codes, num_eval, batch_size, rng)
    if np.unique(y_train).size < 2:
        raise ValueError("beta_vae_score: the training points cover a single factor; raise num_train")
    model = make_classifier(seed_from(rng), max_iter).fit(x_train, y_train)
    accuracy = float(np.mean(model.predict(x_eval) == y_eval))
    return {"train_accuracy": float(np.mean(model.predict(x_train) == y_train)),
            "eval_accuracy": accuracy, "eval_accuracy_se": binomial_se(accuracy, num_eval)}


def score(ctx, num_train: int, num_eval: int) -> dict:
    """The scorer (:data:`analysis.catalogue.SCORERS`): BetaVAE score on the code source."""
    b = beta_vae_score(ctx.codes, ctx.rng, ctx.batch_size, num_train, num_eval)
    return {"beta_vae_score": b["eval_accuracy"], "beta_vae_score_se": b["eval_accuracy_se"],
            "beta_vae_train_accuracy": b["train_accuracy"]}
