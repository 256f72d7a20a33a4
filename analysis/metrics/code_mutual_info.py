"""Mean mutual information between code dimensions (disentanglement_lib's ``mutual_info_score``).

Each code dimension is discretised into ``num_bins`` equal-width bins over its range (20, as
disentanglement_lib's histogram discretizer); the score is the mean plug-in MI (nats) over the
d² − d ordered pairs of distinct dimensions. 0 when the dimensions are independent (up to the plug-in
bias); unsupervised (factors are not read).
"""

from __future__ import annotations

import numpy as np

from analysis.metrics._common import check_codes
from analysis.metrics.mig import discretize, mutual_info_matrix


def code_mutual_info(codes, num_bins: int = 20) -> float:
    """Mean MI (nats) between distinct code dimensions of ``codes`` (n, d), d ≥ 2."""
    codes = check_codes(codes, "code_mutual_info")
    d = codes.shape[1]
    if d < 2:
        raise ValueError(f"code_mutual_info: needs at least 2 code dimensions, got {d}")
    binned = discretize(codes, num_bins)
    mi = mutual_info_matrix(binned, binned)
    np.fill_diagonal(mi, 0.0)
    return float(mi.sum() / (d * d - d))


def score(ctx, num_points: int) -> dict:
    """The scorer (:data:`analysis.catalogue.SCORERS`): on ``num_points`` draws of the code source."""
    _, codes = ctx.sample(num_points)
    return {"mutual_info_score": code_mutual_info(codes)}
