"""Linear-probe accuracy: for data WITHOUT ground-truth factors (CelebA attributes, MNIST digits).

Not a disentanglement metric: it measures how linearly decodable the labels are from the code.
One scikit-learn ``LogisticRegression`` per label column, trained on ``codes_train`` and scored by
balanced accuracy on ``codes_test``; the result is the mean over columns (chance: 0.5 for binary
attributes, 1/#classes for a multi-class label). Columns that are constant in the training set are
skipped.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.preprocessing import StandardScaler

from analysis.metrics._common import check_codes_factors


def linear_probe_accuracy(codes_train, labels_train, codes_test, labels_test) -> float:
    """Mean balanced accuracy of one linear classifier per label column."""
    labels_train = np.asarray(labels_train)
    labels_test = np.asarray(labels_test)
    if labels_train.ndim == 1:
        labels_train, labels_test = labels_train[:, None], labels_test[:, None]
    codes_train, labels_train = check_codes_factors(codes_train, labels_train, "linear_probe (train)")
    codes_test, labels_test = check_codes_factors(codes_test, labels_test, "linear_probe (test)")
    scaler = StandardScaler().fit(codes_train)
    x_train, x_test = scaler.transform(codes_train), scaler.transform(codes_test)
    scores = []
    for k in range(labels_train.shape[1]):
        if np.unique(labels_train[:, k]).size < 2:
            continue
        model = LogisticRegression(max_iter=1000).fit(x_train, labels_train[:, k])
        scores.append(balanced_accuracy_score(labels_test[:, k], model.predict(x_test)))
    if not scores:
        raise ValueError("linear_probe: every label column is constant in the training codes")
    return float(np.mean(scores))
