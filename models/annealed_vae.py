r"""AnnealedVAE (Burgess et al. 2018, "Understanding disentangling in β-VAE", Eq. 8).

    loss = −E_q log p(x|z) + γ·|KL(q(z|x) ‖ p(z)) − C|,   C = min(C_max, C_max · t / T)

The KL target, the "capacity" C (nats), grows linearly from 0 at training step t = 0 to C_max at
t = T (``iteration_threshold``) and then stays there; γ is large (1000 in Locatello et al. 2019) so
that the KL follows C and the code gains information gradually. As in disentanglement_lib, KL is
the **batch mean** of the per-image closed-form KL, so the regulariser is γ·|mean_i KL_i − C| (not
mean_i γ·|KL_i − C|, which would pull every image to the same KL). :meth:`AnnealedVAE.regularizer`
returns that batch value for each image, so the batch mean of the per-image objective is
recon + γ·|KL − C|; a warm-up's ``reg_weight`` scales all of it (:meth:`GaussianVAE.loss`).

Training step. t is the buffer ``train_step`` (in ``state_dict``, so a checkpoint resumes C where
it was). :meth:`AnnealedVAE.loss` uses C(t) and then advances t by one if the model is in training
mode (``self.training``): call ``loss`` once per optimiser step in train mode, and evaluate in
eval mode, which leaves t alone. Locatello et al. train 300,000 steps with T = 100,000, i.e. C
reaches C_max after a third of training; a shorter run should scale T with its step count.
"""

import math

import torch

from models.base import GaussianVAE
from models.hyperparameters import HyperParameter
from models.precision import fp32_island
from models.registry import register


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@register("annealed_vae")
class AnnealedVAE(GaussianVAE):
    """γ·|KL − C| with a capacity C that grows linearly to C_max over ``iteration_threshold`` steps."""

    hyperparameters = (HyperParameter(
        "c_max", default=25.0, low=5.0, high=100.0, grid=(5.0, 10.0, 25.0, 50.0, 75.0, 100.0),
        symbol="C_max", description="final KL capacity C_max (nats)", reference="Burgess et al. 2018"),)

    def __init__(self, latent_dim: int, *, c_max: float = 25.0, gamma: float = 1000.0,
                 iteration_threshold: int = 100_000, **kwargs):
        super().__init__(latent_dim, **kwargs)
        problem = self.hyperparameters[0].check(c_max, "c_max")
        if problem:
            raise ValueError(problem)
        if not (_is_number(gamma) and math.isfinite(gamma) and gamma > 0):
            raise ValueError(f"gamma: the weight of |KL − C| must be a finite number > 0, got {gamma!r}; "
                             "e.g. 1000 (Locatello et al. 2019)")
        if not (_is_number(iteration_threshold) and iteration_threshold == int(iteration_threshold) >= 1):
            raise ValueError("iteration_threshold: the number of training steps until C reaches C_max must "
                             f"be an integer >= 1, got {iteration_threshold!r}; e.g. 100000")
        self.c_max, self.gamma = float(c_max), float(gamma)
        self.iteration_threshold = int(iteration_threshold)
        self.register_buffer("train_step", torch.zeros((), dtype=torch.long))
        self.config.update(c_max=self.c_max, gamma=self.gamma, iteration_threshold=self.iteration_threshold)

    #: Locatello et al. 2019: C reaches C_max after 100,000 of 300,000 training steps.
    PAPER_THRESHOLD, PAPER_STEPS = 100_000, 300_000

    @classmethod
    def trial_defaults(cls, steps: int) -> dict[str, int]:
        """A budget shorter than the paper's 300,000 steps keeps the paper's proportion: C reaches
        C_max after the first third of training (threshold = steps/3, at most 100,000)."""
        scaled = round(steps * cls.PAPER_THRESHOLD / cls.PAPER_STEPS)
        return {"iteration_threshold": max(1, min(cls.PAPER_THRESHOLD, scaled))}

    def capacity(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """C(t) = min(C_max, C_max · t / T) at the current ``train_step`` t, a scalar tensor."""
        return (self.c_max * self.train_step.to(dtype) / self.iteration_threshold).clamp(max=self.c_max)

    @fp32_island
    def regularizer(self, out, kl):
        c = self.capacity(kl.dtype)
        reg = self.gamma * (kl.mean() - c).abs()
        return reg.expand_as(kl), {"capacity": c}

    def loss(self, x, out, reg_weight: float = 1.0):
        """The objective at the current step's C; then, in training mode, advance ``train_step``."""
        result = super().loss(x, out, reg_weight)
        if self.training:
            self.train_step.add_(1)
        return result
