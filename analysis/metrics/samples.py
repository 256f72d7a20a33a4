"""How data-like a model's prior samples are: each sample's distance to its nearest image of a
reference set, beside the reference images' own nearest-neighbour distance.

* ``sample_distance``: mean over samples s of min_x ‖s − x‖₂ / √D (RMS per pixel) over the
  reference images x; ``sample_distance_se`` its standard error over samples.
* ``data_distance``: the same for each reference image to its nearest *other* reference image —
  where samples as data-like as held-out data would lie (both shrink as the reference set grows,
  so compare them on one set). An AE's prior samples lie far from every image: nothing made its
  codes follow the prior they are drawn from.
"""

from __future__ import annotations

import math

import torch


def nearest_distances(queries: torch.Tensor, reference: torch.Tensor, exclude_self: bool = False,
                      batch_size: int = 256) -> torch.Tensor:
    """RMS-per-pixel distance of each query image to its nearest reference image (float64, one per
    query); ``exclude_self``: queries are the reference images, each skips itself."""
    q = queries.reshape(len(queries), -1).double().cpu()
    r = reference.reshape(len(reference), -1).double().cpu()
    out = []
    for start in range(0, len(q), batch_size):
        d = torch.cdist(q[start:start + batch_size], r)
        if exclude_self:
            rows = torch.arange(len(d))
            d[rows, rows + start] = math.inf
        out.append(d.min(1).values)
    return torch.cat(out) / math.sqrt(q.shape[1])


def sample_distance_scores(samples: torch.Tensor, reference: torch.Tensor) -> dict:
    """sample_distance(_se) of ``samples`` and data_distance of ``reference`` (NaN with < 2 images)."""
    if len(samples) < 2 or len(reference) < 2:
        return {"sample_distance": math.nan, "sample_distance_se": math.nan, "data_distance": math.nan}
    d = nearest_distances(samples, reference)
    return {"sample_distance": float(d.mean()), "sample_distance_se": float(d.std() / math.sqrt(len(d))),
            "data_distance": float(nearest_distances(reference, reference, exclude_self=True).mean())}
