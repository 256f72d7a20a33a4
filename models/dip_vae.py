r"""DIP-VAE (Kumar et al. 2018, "Variational Inference of Disentangled Latent Concepts from
Unlabeled Observations", Eqs. 6 and 7): the ELBO plus a penalty pushing a covariance matrix of the
code towards the identity,

    loss = −E_q log p(x|z) + KL(q(z|x) ‖ p(z)) + λ_od Σ_{i≠j} Cov[·]_ij² + λ_d Σ_i (Cov[·]_ii − 1)²

* DIP-VAE-I (``dip_vae_i``): Cov[·] = Cov_p(x)[μ(x)], the covariance of the encoder mean;
* DIP-VAE-II (``dip_vae_ii``): Cov[·] = Cov_q(z)[z] = E_p(x)[diag σ²(x)] + Cov_p(x)[μ(x)], the
  covariance of the aggregate posterior.

Both expectations over p(x) are taken over the batch, as disentanglement_lib does, with the 1/B
(biased) covariance E[μμᵀ] − E[μ]E[μ]ᵀ. Locatello et al. 2019 sweep λ_od and set λ_d = 10·λ_od
for DIP-VAE-I and λ_d = λ_od for DIP-VAE-II; an explicit ``lambda_d`` overrides that.

The penalty is one number per batch while :meth:`GaussianVAE.regularizer` returns a value per
image, so it is added to every image's KL: the batch mean of the regulariser is then KL + penalty,
the paper's objective (and a warm-up's ``reg_weight`` scales both).
"""

import math
from typing import ClassVar

import torch

from models.base import GaussianVAE
from models.hyperparameters import HyperParameter
from models.precision import fp32_island
from models.registry import register

LAMBDA_OD = HyperParameter(
    "lambda_od", default=10.0, low=1.0, high=50.0, grid=(1.0, 2.0, 5.0, 10.0, 20.0, 50.0),
    symbol="λ_od", description="weight of the off-diagonal covariance penalty", reference="Kumar et al. 2018")


def covariance(mu: torch.Tensor) -> torch.Tensor:
    """Batch covariance (D, D) of the rows of ``mu`` (B, D), normalised by B: E[μμᵀ] − E[μ]E[μ]ᵀ."""
    centred = mu - mu.mean(0, keepdim=True)
    return centred.T @ centred / mu.shape[0]


class DIPVAE(GaussianVAE):
    """The shared part of the two variants; a subclass says which covariance it penalises."""

    hyperparameters = (LAMBDA_OD,)
    lambda_d_factor: ClassVar[float] = 1.0
    """λ_d / λ_od when ``lambda_d`` is not given (Locatello et al. 2019)."""

    def __init__(self, latent_dim: int, *, lambda_od: float = 10.0, lambda_d: float | None = None, **kwargs):
        super().__init__(latent_dim, **kwargs)
        problem = LAMBDA_OD.check(lambda_od, "lambda_od")
        if problem:
            raise ValueError(problem)
        if lambda_d is None:
            lambda_d = self.lambda_d_factor * lambda_od
        elif isinstance(lambda_d, bool) or not isinstance(lambda_d, (int, float)) or not 0 <= lambda_d < math.inf:
            raise ValueError(f"lambda_d: must be a finite number >= 0, got {lambda_d!r}; leave it unset "
                             f"(None) for the default {self.lambda_d_factor:g}·lambda_od")
        self.lambda_od, self.lambda_d = float(lambda_od), float(lambda_d)
        self.config.update(lambda_od=self.lambda_od, lambda_d=self.lambda_d)

    def code_covariance(self, out) -> torch.Tensor:
        """The (D, D) covariance matrix the penalty pushes towards the identity."""
        raise NotImplementedError

    @fp32_island
    def dip_terms(self, out) -> tuple[torch.Tensor, torch.Tensor]:
        """(Σ_{i≠j} Cov_ij², Σ_i (Cov_ii − 1)²), the unweighted off-diagonal and diagonal penalties."""
        cov = self.code_covariance(out)
        diag = torch.diagonal(cov)
        return (cov - torch.diag(diag)).square().sum(), (diag - 1.0).square().sum()

    def regularizer(self, out, kl):
        offdiag, diag = self.dip_terms(out)
        penalty = self.lambda_od * offdiag + self.lambda_d * diag
        return kl + penalty, {"dip_offdiag": offdiag, "dip_diag": diag}


@register("dip_vae_i")
class DIPVAEI(DIPVAE):
    """DIP-VAE-I: penalises Cov[μ(x)], with λ_d = 10·λ_od by default."""

    lambda_d_factor = 10.0

    def code_covariance(self, out):
        return covariance(out.mu)


@register("dip_vae_ii")
class DIPVAEII(DIPVAE):
    """DIP-VAE-II: penalises Cov_q(z) = E[diag σ²(x)] + Cov[μ(x)], with λ_d = λ_od by default."""

    lambda_d_factor = 1.0

    def code_covariance(self, out):
        return torch.diag(out.logvar.exp().mean(0)) + covariance(out.mu)
