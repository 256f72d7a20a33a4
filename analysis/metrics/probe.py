"""Linear-probe accuracy: for data WITHOUT ground-truth factors (CelebA attributes, MNIST digits).

Not a disentanglement metric: it measures how linearly decodable the labels are from the code.
One scikit-learn ``LogisticRegression`` per label column, trained on ``codes_train`` and scored by
balanced accuracy on ``codes_test``; the result is the mean over columns (chance: 0.5 for binary
attributes, 1/#classes for a multi-class label). Columns that are constant in the training set are
skipped. :func:`linear_probe_with_se` adds the bootstrap SE over the test points.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from analysis.metrics._common import check_codes_factors
from analysis.metrics.uncertainty import bootstrap_se


def _balanced_accuracy(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Mean over the classes present in ``truth`` of the recall of that class."""
    classes = np.unique(truth)
    return float(np.mean([np.mean(predicted[truth == c] == c) for c in classes]))


def _predictions(codes_train, labels_train, codes_test, labels_test):
    """Test labels and predictions (n_test, m) of the non-constant columns."""
    labels_train = np.asarray(labels_train)
    labels_test = np.asarray(labels_test)
    if labels_train.ndim == 1:
        labels_train, labels_test = labels_train[:, None], labels_test[:, None]
    codes_train, labels_train = check_codes_factors(codes_train, labels_train, "linear_probe (train)")
    codes_test, labels_test = check_codes_factors(codes_test, labels_test, "linear_probe (test)")
    scaler = StandardScaler().fit(codes_train)
    x_train, x_test = scaler.transform(codes_train), scaler.transform(codes_test)
    keep = [k for k in range(labels_train.shape[1]) if np.unique(labels_train[:, k]).size >= 2]
    if not keep:
        raise ValueError("linear_probe: every label column is constant in the training codes")
    predicted = np.stack([LogisticRegression(max_iter=1000).fit(x_train, labels_train[:, k]).predict(x_test)
                          for k in keep], axis=1)
    return labels_test[:, keep], predicted


def _mean_balanced(truth: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean([_balanced_accuracy(truth[:, k], predicted[:, k]) for k in range(truth.shape[1])]))


def linear_probe_accuracy(codes_train, labels_train, codes_test, labels_test) -> float:
    """Mean balanced accuracy of one linear classifier per label column."""
    return _mean_balanced(*_predictions(codes_train, labels_train, codes_test, labels_test))


def linear_probe_with_se(codes_train, labels_train, codes_test, labels_test, rng,
                         num_resamples: int = 100) -> tuple[float, float]:
    """(accuracy, its bootstrap SE over the test points, classifiers fixed)."""
    truth, predicted = _predictions(codes_train, labels_train, codes_test, labels_test)
    se = bootstrap_se(lambda rows: _mean_balanced(truth[rows], predicted[rows]), len(truth), rng, num_resamples)
    return _mean_balanced(truth, predicted), se


def score(ctx, num_points: int) -> dict:
    """The scorer (:data:`analysis.catalogue.SCORERS`) of data without factors: a linear probe of
    the labels of ``num_points`` evaluation images, half to fit, half to test."""
    images, labels = ctx.data.eval_set(num_points, seed=1)
    codes = ctx.represent(images)
    half = len(codes) // 2
    labels = np.asarray(labels)
    acc, se = linear_probe_with_se(codes[:half], labels[:half], codes[half:], labels[half:], ctx.rng,
                                   ctx.bootstrap)
    return {"linear_probe_accuracy": acc, "linear_probe_accuracy_se": se}
