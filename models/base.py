"""The shared model classes: an autoencoder base and the Gaussian-VAE base with a regulariser hook.

Every model type is a subclass registered in :mod:`models.registry`; a probabilistic model type
only overrides :meth:`GaussianVAE.regularizer` (disentanglement_lib style), so adding one is one
small file; an adversarial one (FactorVAE) also implements the auxiliary-objective hooks of
:class:`LatentModel`, which are no-ops for every other model.
"""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import torch
from torch import nn

from models.estimators import gaussian_kl
from models.hyperparameters import HyperParameter
from models.likelihoods import get_likelihood
from models.networks import build_networks
from models.precision import fp32_island


class ModelOutput(NamedTuple):
    """``raw``: decoder output (logits or Gaussian mean); ``mu``/``logvar``: q(z|x); ``z``: sample."""

    raw: torch.Tensor
    mu: torch.Tensor
    logvar: torch.Tensor | None
    z: torch.Tensor


class LossOutput(NamedTuple):
    """``loss``: scalar to minimise (per image, batch mean); ``terms``: detached scalars to log."""

    loss: torch.Tensor
    terms: dict[str, torch.Tensor]


class LatentModel(nn.Module):
    """Common part of every model: networks, likelihood, decode/reconstruct/sample, config.

    Auxiliary objective (adversarial models such as FactorVAE). A model may own parameters that
    the main loss must not update (a discriminator); it says so through :attr:`needs_second_batch`,
    :meth:`main_parameters`, :meth:`auxiliary_optimizer` and :meth:`auxiliary_loss`, whose defaults
    make all of it a no-op. The trainer's order per step is::

        out = model(x, noise_scale=w); lo = model.loss(x, out, reg_weight=w)
        main_opt.zero_grad(); lo.loss.backward(); main_opt.step()    # main_opt on main_parameters()
        if aux_opt is not None:                                       # aux_opt = auxiliary_optimizer()
            x2 = a second, independent batch                          # drawn when needs_second_batch
            aux_opt.zero_grad(); model.auxiliary_loss(out, x2, noise_scale=w).loss.backward()
            aux_opt.step()

    ``aux_opt.zero_grad()`` must come after the main backward: the main loss passes through the
    auxiliary network and leaves gradients on its parameters that its step must not use. The
    auxiliary network is a submodule (its weights are in ``state_dict``); the trainer saves the
    auxiliary optimiser's ``state_dict`` next to the main one's.
    """

    model_type = "base"
    encoder_outputs_per_dim = 1
    hyperparameters: ClassVar[tuple[HyperParameter, ...]] = ()
    """The objective's searched knobs, each a constructor keyword (see :mod:`models.hyperparameters`)."""
    probabilistic: ClassVar[bool] = True
    """Has an encoder distribution q(z|x) and a prior (a KL term); False for the deterministic AE."""
    bf16_under_auto: ClassVar[bool] = False
    """``trial.amp: auto`` trains this type in bf16 only once its bf16-vs-fp32 science table agrees
    (benchmarks/bf16_science.py). None does yet: VAE, β-TCVAE and FactorVAE trained blurrier in bf16
    (benchmarks/notes/2026-12-06-bf16-science.md), so auto means fp32 and bf16 is ``amp: true``."""

    @classmethod
    def trial_defaults(cls, steps: int) -> dict[str, Any]:
        """Constructor arguments that depend on the trial's budget of ``steps`` optimiser steps
        (a schedule's length, say); the user's own settings override them. None by default."""
        return {}
    needs_second_batch: ClassVar[bool] = False
    """True if :meth:`auxiliary_loss` needs a second, independent training batch each step."""

    def __init__(self, latent_dim: int, *, architecture: str = "burgess", in_channels: int = 1,
                 likelihood: str = "bernoulli", gaussian_variance: float = 0.5, **_ignored: Any):
        """``gaussian_variance`` is σ² of the Gaussian likelihood (see :class:`models.likelihoods.
        Gaussian`); it is recorded in :attr:`config` for that likelihood and ignored by bernoulli."""
        super().__init__()
        if int(latent_dim) < 1:
            raise ValueError(f"latent_dim: must be >= 1, got {latent_dim}")
        self.latent_dim = int(latent_dim)
        self.likelihood = get_likelihood(likelihood, gaussian_variance)
        self.encoder, self.decoder = build_networks(
            architecture, in_channels, self.latent_dim, self.encoder_outputs_per_dim * self.latent_dim)
        self.config: dict[str, Any] = {"model_type": self.model_type, "latent_dim": self.latent_dim,
                                       "architecture": architecture, "in_channels": int(in_channels),
                                       "likelihood": likelihood}
        if hasattr(self.likelihood, "variance"):  # save/load rebuilds the same σ²
            self.config["gaussian_variance"] = self.likelihood.variance

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Raw decoder output for codes ``z`` (B, D): Bernoulli logits or the Gaussian mean."""
        return self.decoder(z)

    def recon_nll(self, x: torch.Tensor, out: ModelOutput) -> torch.Tensor:
        """Per-image reconstruction negative log-likelihood (nats), shape (B,)."""
        return self.likelihood.nll(x, out.raw)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Deterministic reconstruction (decoding the encoder mean) as an image in [0, 1]."""
        mu, _ = self.encode(x)
        return self.likelihood.mean(self.decode(mu))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Images in [0, 1] decoded from z ~ N(0, I) (for the AE, which has no prior, this only
        shows what its decoder makes of prior-like codes)."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator, device=device)
        return self.likelihood.mean(self.decode(z))

    def kl_per_dim(self, mu: torch.Tensor, logvar: torch.Tensor | None) -> torch.Tensor | None:
        """Batch-mean closed-form KL per latent dim (D,), or None for a deterministic code."""
        return None

    def main_parameters(self) -> list[nn.Parameter]:
        """The parameters the trainer's main optimiser updates with :meth:`loss` (default: all)."""
        return list(self.parameters())

    def auxiliary_optimizer(self) -> torch.optim.Optimizer | None:
        """A new optimiser for the parameters outside :meth:`main_parameters`, or None if the model
        has none (default). Call it once per training run and keep it: its state is checkpointed."""
        return None

    def auxiliary_loss(self, out: ModelOutput, x2: torch.Tensor, noise_scale: float = 1.0) -> LossOutput:
        """The auxiliary network's loss, given the main forward output ``out`` of the step's batch and
        a second batch ``x2`` (``noise_scale`` as passed to that forward). Only models whose
        :meth:`auxiliary_optimizer` is not None define it; see the class docstring for the order."""
        raise NotImplementedError(f"{self.model_type}: has no auxiliary objective; call auxiliary_loss "
                                  "only when auxiliary_optimizer() is not None")


class AutoEncoder(LatentModel):
    """Deterministic autoencoder: z = enc(x); the loss is the reconstruction term only."""

    probabilistic = False

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        return self.encoder(x), None

    def forward(self, x: torch.Tensor, noise_scale: float = 1.0) -> ModelOutput:
        """``noise_scale`` is accepted for a uniform call and unused (the code is deterministic)."""
        z, _ = self.encode(x)
        return ModelOutput(self.decode(z), z, None, z)

    def loss(self, x: torch.Tensor, out: ModelOutput, reg_weight: float = 1.0) -> LossOutput:
        """Reconstruction only (``reg_weight`` is accepted for a uniform call and unused)."""
        recon = self.recon_nll(x, out).mean()
        return LossOutput(recon, {"recon": recon.detach()})


class GaussianVAE(LatentModel):
    """q(z|x) = N(μ(x), diag σ²(x)) with σ² = exp(logvar), prior N(0, I), reparameterised samples.

    loss = E_batch[ −log p(x|z) + regularizer ], where subclasses define the regulariser; the base
    class's regulariser is the closed-form KL, i.e. the negative ELBO of Kingma & Welling 2014.
    """

    encoder_outputs_per_dim = 2

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    @fp32_island
    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor, noise_scale: float = 1.0) -> torch.Tensor:
        """z = μ + s·σ·ε, ε ~ N(0, I) (Kingma & Welling 2014); s = 1 except during a warm-up."""
        return mu + noise_scale * torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def forward(self, x: torch.Tensor, noise_scale: float = 1.0) -> ModelOutput:
        """Encode, sample z with the posterior noise scaled by ``noise_scale`` (1 = the model's own
        sampling; the warm-up ramps it from 0 with the regulariser), decode."""
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar, noise_scale)
        return ModelOutput(self.decode(z), mu, logvar, z)

    def regularizer(self, out: ModelOutput, kl: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Per-image regulariser (B,) and extra terms to log; ``kl`` is the closed-form KL (B,)."""
        return kl, {}

    def loss(self, x: torch.Tensor, out: ModelOutput, reg_weight: float = 1.0) -> LossOutput:
        """Per-image objective, batch mean: recon + reg_weight · regularizer.

        ``reg_weight`` < 1 scales the **whole** regulariser of :meth:`regularizer` during a KL
        warm-up (Bowman et al. 2016; Sønderby et al. 2016): β·KL for β-VAE, and for β-TCVAE all of
        α·MI + β·TC + γ·dwKL, not only a KL term. 1 is the model's own objective. (The trial also
        scales the posterior noise of :meth:`forward` by the same weight during the warm-up.)"""
        recon = self.recon_nll(x, out)
        kl = gaussian_kl(out.mu, out.logvar).sum(1)
        reg, extra = self.regularizer(out, kl)
        loss = (recon + reg_weight * reg).mean() if reg_weight != 1.0 else (recon + reg).mean()
        terms = {"recon": recon.mean().detach(), "kl": kl.mean().detach()}
        terms.update({k: v.detach() for k, v in extra.items()})
        return LossOutput(loss, terms)

    def kl_per_dim(self, mu: torch.Tensor, logvar: torch.Tensor | None) -> torch.Tensor:
        return gaussian_kl(mu, logvar).mean(0)
