"""The BetaVAE metric (Higgins et al. 2017), with a scikit-learn linear classifier.

For each point: pick a factor k uniformly; draw two batches of ``batch_size`` factor vectors and
copy factor k from the first to the second; the feature is mean_b |r(x1_b) − r(x2_b)| (a vector
over code dims), the label is k. A ``LogisticRegression`` (scikit-learn defaults) is trained on
``num_train`` points and scored on ``num_eval`` fresh points; the score is the eval accuracy.

Chance level: 1 / #factors, counting only factors with more than one value (dSprites: 5, since
colour is constant; the reference implementation likewise draws k among its latent factor
indices, which exclude colour). A perfect code reaches ≈ 1. Known bias: the metric only asks
that *some* linear read-out finds the fixed factor, so a code can score high while a factor is
spread over several dimensions (Kim & Mnih 2018); it saturates easily.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from analysis.metrics._common import integers, represent_in_chunks, seed_from, varying_sizes


def sample_pairs(data, num_points: int, batch_size: int, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels k (P,) and the factor batches f1, f2 (P, B, K) with f2[:, :, k] = f1[:, :, k]."""
    candidates = varying_sizes(data.factor_sizes)
    labels = candidates[integers(rng, len(candidates), num_points)]
    k = len(data.factor_sizes)
    f1 = data.sample_factors(num_points * batch_size, rng).reshape(num_points, batch_size, k)
    f2 = data.sample_factors(num_points * batch_size, rng).reshape(num_points, batch_size, k)
    rows = np.arange(num_points)
    f2[rows, :, labels] = f1[rows, :, labels]
    return labels, f1, f2


def pair_features(data, represent, f1: np.ndarray, f2: np.ndarray) -> np.ndarray:
    """mean_b |r(x1) − r(x2)| per point, all points rendered and encoded in a few large chunks."""
    p, b, k = f1.shape
    r1 = represent_in_chunks(data, represent, f1.reshape(p * b, k))
    r2 = represent_in_chunks(data, represent, f2.reshape(p * b, k))
    return np.abs(r1 - r2).reshape(p, b, -1).mean(axis=1)


def beta_vae_score(data, represent, rng, batch_size: int = 64, num_train: int = 10000,
                   num_eval: int = 5000) -> dict:
    """BetaVAE metric: {"train_accuracy", "eval_accuracy"} of the linear classifier."""
    if num_train < 2 or num_eval < 1 or batch_size < 1:
        raise ValueError("beta_vae_score: num_train >= 2, num_eval >= 1 and batch_size >= 1 required")
    y_train, f1, f2 = sample_pairs(data, num_train, batch_size, rng)
    x_train = pair_features(data, represent, f1, f2)
    y_eval, f1, f2 = sample_pairs(data, num_eval, batch_size, rng)
    x_eval = pair_features(data, represent, f1, f2)
    if np.unique(y_train).size < 2:
        raise ValueError("beta_vae_score: the training points cover a single factor; raise num_train")
    model = LogisticRegression(random_state=seed_from(rng))
    model.fit(x_train, y_train)
    return {"train_accuracy": float(np.mean(model.predict(x_train) == y_train)),
            "eval_accuracy": float(np.mean(model.predict(x_eval) == y_eval))}
