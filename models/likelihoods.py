"""Reconstruction likelihoods p(x | z): the per-image negative log-likelihood and the image mean.

Both sum over pixels (the per-image objective, docs/architecture.md "Objectives"), so the loss scale
matches the KL term.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from models.precision import fp32_island


class Bernoulli:
    """p(x|z) = Bernoulli(sigmoid(logits)); for binary images (dSprites, MNIST).

    nll = Σ_pixels BCE(logits, x), in nats per image.
    """

    name = "bernoulli"

    @staticmethod
    @fp32_island
    def nll(x: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(raw, x, reduction="none").flatten(1).sum(1)

    @staticmethod
    def mean(raw: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(raw)


class Gaussian:
    """p(x|z) = N(raw, σ² I) with a fixed variance σ² (default 1/2); for natural images (CelebA).

    nll = Σ_pixels (x − raw)² / (2σ²) nats per image, the constant ½·log(2πσ²) per pixel dropped:
    at σ² = 1/2 the summed squared error (the seed report's "MSE"). σ² sets the effective β
    (docs/measurements.md).
    """

    name = "gaussian"

    def __init__(self, variance: float = 0.5):
        variance = float(variance)
        if not (math.isfinite(variance) and variance > 0):
            raise ValueError(f"gaussian_variance: must be a finite number > 0, got {variance}")
        self.variance = variance

    @fp32_island
    def nll(self, x: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        return (x - raw).square().flatten(1).sum(1) / (2.0 * self.variance)  # σ² = ½: exactly the SSE

    @staticmethod
    def mean(raw: torch.Tensor) -> torch.Tensor:
        return raw.clamp(0.0, 1.0)

    def __repr__(self) -> str:
        return f"Gaussian(variance={self.variance:g})"


#: The likelihoods by name, with their default parameters (σ² = 1/2 for the Gaussian).
LIKELIHOODS = {"bernoulli": Bernoulli(), "gaussian": Gaussian()}


def get_likelihood(name: str, variance: float | None = None):
    """The likelihood called ``name``; a clear error lists the known ones.

    ``variance`` is σ² of the Gaussian likelihood (None = its default 1/2); the Bernoulli
    likelihood has no variance parameter and ignores it.
    """
    if name not in LIKELIHOODS:
        raise ValueError(f"likelihood: unknown likelihood {name!r}; choose one of "
                         f"{', '.join(LIKELIHOODS)}")
    if name == Gaussian.name and variance is not None:
        return Gaussian(variance)
    return LIKELIHOODS[name]
