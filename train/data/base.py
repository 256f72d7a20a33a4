"""What every dataset offers the trial and the metrics (docs/architecture.md, "Datasets").

Ground-truth datasets (dSprites) expose ``factor_names``, ``factor_sizes``, ``sample_factors`` and
``observations``; every dataset, with or without factors, offers ``train_batch`` (a random batch
generated or gathered on the dataset's device, no DataLoader workers) and ``eval_set`` (a fixed,
deterministic held-out set with its labels or factors).
"""

from __future__ import annotations

import numpy as np
import torch


def as_generator(rng) -> np.random.Generator | np.random.RandomState:
    """Accept a numpy Generator or RandomState (never the global RNG)."""
    if isinstance(rng, (np.random.Generator, np.random.RandomState)):
        return rng
    raise TypeError(f"rng: expected numpy.random.Generator or RandomState, got {type(rng).__name__}")


def integers(rng, high: int, size) -> np.ndarray:
    """Uniform integers in [0, high) from either numpy RNG type."""
    if isinstance(rng, np.random.Generator):
        return rng.integers(0, high, size=size)
    return rng.randint(0, high, size=size)


class GroundTruthData:
    """Base of datasets generated from discrete, independent ground-truth factors."""

    name = "ground_truth"
    #: The name this dataset is recorded under (MLflow ``dataset`` tag, reports); differs from
    #: ``name`` for a procedural look-alike (``train.options.DATASET_RECORD_NAMES``).
    record_name = "ground_truth"
    has_factors = True
    num_channels = 1
    default_likelihood = "bernoulli"
    factor_names: tuple[str, ...] = ()
    factor_sizes: tuple[int, ...] = ()

    def __init__(self, device: torch.device | str | None = None):
        self.device = torch.device(device or "cpu")

    @property
    def num_examples(self) -> int:
        """Size of the full factor grid (N of the β-TCVAE estimator)."""
        return int(np.prod(self.factor_sizes))

    def sample_factors(self, n: int, rng) -> np.ndarray:
        """``n`` factor vectors, each factor uniform over its values: int array (n, k)."""
        rng = as_generator(rng)
        return np.stack([integers(rng, size, n) for size in self.factor_sizes], axis=1).astype(np.int64)

    def factors_to_index(self, factors) -> np.ndarray:
        """Row-major index in the official order (last factor fastest)."""
        return np.ravel_multi_index(np.asarray(factors, dtype=np.int64).T, self.factor_sizes)

    def index_to_factors(self, index) -> np.ndarray:
        """Inverse of :meth:`factors_to_index`: (n, k) int array."""
        return np.stack(np.unravel_index(np.asarray(index, dtype=np.int64), self.factor_sizes), axis=1)

    def observations(self, factors) -> torch.Tensor:
        """Images (n, C, 64, 64) float in [0, 1] on the dataset's device."""
        raise NotImplementedError

    def _check_factors(self, factors: torch.Tensor) -> None:
        if factors.ndim != 2 or factors.shape[1] != len(self.factor_sizes):
            raise ValueError(f"factors: expected shape (n, {len(self.factor_sizes)}), got {tuple(factors.shape)}")
        sizes = torch.as_tensor(self.factor_sizes, device=factors.device)
        if bool(((factors < 0) | (factors >= sizes)).any()):
            raise ValueError(f"factors: values out of range for factor sizes {self.factor_sizes}")

    def train_batch(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """A uniform random batch from the factor grid, sampled and rendered on the device."""
        cols = [torch.randint(0, s, (batch_size,), generator=generator, device=self.device)
                for s in self.factor_sizes]
        return self.observations(torch.stack(cols, dim=1))

    def eval_set(self, n: int, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
        """A fixed evaluation set: ``n`` images and their factors, the same for the same seed.

        Procedural ground-truth sets have no train/test split in the literature (models train on
        the whole grid); this is a fixed random sample of the grid with its own RNG stream.
        """
        factors = self.sample_factors(n, np.random.default_rng([seed, 0xE7A1]))
        return self.observations(factors), factors
