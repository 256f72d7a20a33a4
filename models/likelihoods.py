"""Reconstruction likelihoods p(x | z): the per-image negative log-likelihood and the image mean.

Both sum over pixels (the per-image objective of DESIGN §4), so the loss scale matches the KL term.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class Bernoulli:
    """p(x|z) = Bernoulli(sigmoid(logits)); for binary images (dSprites, MNIST).

    nll = Σ_pixels BCE(logits, x), in nats per image.
    """

    name = "bernoulli"

    @staticmethod
    def nll(x: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(raw, x, reduction="none").flatten(1).sum(1)

    @staticmethod
    def mean(raw: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(raw)


class Gaussian:
    """p(x|z) = N(raw, σ² I) with fixed σ² = 1/2; for natural images (CelebA).

    With σ² = 1/2 the negative log-likelihood is Σ_pixels (x − raw)² plus a constant, which is
    dropped: the AE with this likelihood optimises exactly the summed squared error ("MSE", as in
    the seed report).
    """

    name = "gaussian"

    @staticmethod
    def nll(x: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        return (x - raw).square().flatten(1).sum(1)

    @staticmethod
    def mean(raw: torch.Tensor) -> torch.Tensor:
        return raw.clamp(0.0, 1.0)


LIKELIHOODS = {"bernoulli": Bernoulli(), "gaussian": Gaussian()}


def get_likelihood(name: str):
    """The likelihood called ``name``; a clear error lists the known ones."""
    try:
        return LIKELIHOODS[name]
    except KeyError:
        raise ValueError(f"likelihood: unknown likelihood {name!r}; choose one of "
                         f"{', '.join(LIKELIHOODS)}") from None
