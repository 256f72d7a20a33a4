"""Where the metrics get their codes: rendered and encoded on demand, from a pool, or the whole grid.

Every factor-based metric is defined by *sampling* ground-truth factor vectors (uniform over the
factor grid), sometimes under a constraint (BetaVAE: a second batch that shares factor k with the
first; FactorVAE: a batch in which factor k is fixed), and reading the encoder mean r(x) of the
corresponding observations. The three sources below implement those two draws:

* :class:`LiveCodes` renders and encodes every drawn factor vector: the definition as written, but
  the cost grows with the metric's sample size (the literature's BetaVAE alone encodes 1.9 M images).
* :class:`GridCodes` encodes *every* point of the factor grid once (737,280 images for dSprites)
  and answers every draw by indexing. The encoder mean is deterministic, so this is the same
  estimator as :class:`LiveCodes` — exactly, not approximately — at a cost fixed by the grid size.
* :class:`PoolCodes` encodes a uniform random pool of the grid once and answers the draws from it
  (a constrained draw picks, per row, a uniform pool member with the required factor value). It is
  the definition applied to the pool's empirical distribution. An unconstrained draw no larger
  than the pool takes distinct members, i.e. genuine i.i.d. grid points (MIG, SAP, DCI); the
  paired draws of BetaVAE/FactorVAE reuse members, so the pool's finite size adds variance of its
  own (``benchmarks/metric_uncertainty.py`` measures the spread over pool seeds).

A source answers ``sample(n, rng) -> (factors, codes)`` and ``matching(factors, fixed, rng) ->
(factors2, codes2)``: row i of the second draw shares factor ``fixed[i]``'s value with row i of
``factors``, every other factor uniform.
"""

from __future__ import annotations

import numpy as np

from analysis.metrics._common import integers, represent_in_chunks


class LiveCodes:
    """Render and encode each draw: ``represent(data.observations(factors))``."""

    kind = "live"

    def __init__(self, data, represent):
        self.data, self.represent = data, represent
        self.factor_sizes = tuple(data.factor_sizes)

    def codes_of(self, factors: np.ndarray) -> np.ndarray:
        return represent_in_chunks(self.data, self.represent, factors)

    def sample(self, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
        factors = self.data.sample_factors(n, rng)
        return factors, self.codes_of(factors)

    def matching(self, factors: np.ndarray, fixed: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
        other = self.data.sample_factors(len(factors), rng)
        rows = np.arange(len(factors))
        other[rows, fixed] = factors[rows, fixed]
        return other, self.codes_of(other)


class GridCodes(LiveCodes):
    """Every grid point encoded once; draws are the same as :class:`LiveCodes`, answered by index."""

    kind = "grid"

    def __init__(self, data, represent, chunk: int = 8192):
        super().__init__(data, represent)
        index = np.arange(int(np.prod(self.factor_sizes)))
        parts = [represent_in_chunks(data, represent, data.index_to_factors(index[s:s + chunk]), chunk)
                 for s in range(0, len(index), chunk)]
        self.table = np.concatenate(parts)

    def codes_of(self, factors: np.ndarray) -> np.ndarray:
        return self.table[np.ravel_multi_index(np.asarray(factors, dtype=np.int64).T, self.factor_sizes)]


class PoolCodes:
    """A uniform random pool of ``size`` grid points, encoded once; draws resample the pool."""

    kind = "pool"

    def __init__(self, data, represent, size: int, rng):
        if size < 2:
            raise ValueError(f"pool size: must be >= 2, got {size}")
        self.factor_sizes = tuple(data.factor_sizes)
        self.factors = data.sample_factors(size, rng)
        self.codes = represent_in_chunks(data, represent, self.factors)
        # Per factor: pool rows sorted by that factor's value, and where each value's run starts.
        self._order = [np.argsort(self.factors[:, k], kind="stable") for k in range(len(self.factor_sizes))]
        self._starts = [np.searchsorted(self.factors[order, k], np.arange(s + 1))
                        for k, (order, s) in enumerate(zip(self._order, self.factor_sizes, strict=True))]

    def sample(self, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
        """``n`` distinct pool members when the pool holds that many (so they are i.i.d. uniform
        grid points, as a live draw's are), else ``n`` members drawn with replacement."""
        if n <= len(self.codes):
            rows = rng.permutation(len(self.codes))[:n]
        else:
            rows = integers(rng, len(self.codes), n)
        return self.factors[rows], self.codes[rows]

    def matching(self, factors: np.ndarray, fixed: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
        picked = np.empty(len(factors), dtype=np.int64)
        u = rng.random(len(factors)) if isinstance(rng, np.random.Generator) else rng.random_sample(len(factors))
        for k in np.unique(fixed):
            rows = np.flatnonzero(fixed == k)
            value = factors[rows, k]
            lo, hi = self._starts[k][value], self._starts[k][value + 1]
            if np.any(hi <= lo):
                missing = int(value[np.argmax(hi <= lo)])
                raise ValueError(f"pool: no pooled point has factor {k} = {missing}; "
                                 f"raise the pool size (pool_size) so every factor value is present")
            picked[rows] = self._order[k][lo + np.floor(u[rows] * (hi - lo)).astype(np.int64)]
        return self.factors[picked], self.codes[picked]


def grid_size(data) -> int:
    """Number of points of ``data``'s factor grid."""
    return int(np.prod(data.factor_sizes))
