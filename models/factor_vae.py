r"""FactorVAE (Kim & Mnih 2018, "Disentangling by Factorising", Eq. 2): the ELBO plus γ times the
total correlation (TC) of the aggregate posterior q(z),

    loss = −E_q log p(x|z) + KL(q(z|x) ‖ p(z)) + γ·KL(q(z) ‖ q̄(z)),    q̄(z) = Π_d q(z_d)

TC is estimated by the density-ratio trick: a discriminator D tells samples of q(z) ("joint",
class 0) from samples of q̄(z) ("product", class 1). At its optimum D(z) = q(z) / (q(z) + q̄(z)),
so TC = E_q(z)[log q(z)/q̄(z)] ≈ E_q(z)[log D(z) − log(1 − D(z))]; with D's two logits (l₀, l₁),
D(z) = softmax(l)₀ and log D − log(1 − D) = l₀ − l₁, the logit difference disentanglement_lib
uses. Per image the regulariser is KL_i + γ·(l₀ − l₁)(z_i), with gradients through z_i into the
encoder; a warm-up's ``reg_weight`` scales all of it (:meth:`GaussianVAE.loss`).

Discriminator (Kim & Mnih, App. A; disentanglement_lib's ``fc_discriminator``): an MLP of 6 hidden
layers × 1000 units with LeakyReLU(0.2) and 2 output logits, trained by its own Adam (lr 1e-4,
betas (0.5, 0.9)) on the cross-entropy of the step's codes z (detached), labelled joint, against
a second batch's codes with every dimension permuted independently across the batch, which are
samples of q̄(z), labelled product (as in the paper's algorithm; disentanglement_lib permutes the same
batch instead). It is a submodule, so its weights are in ``state_dict``, but the main optimiser
must not update it: :meth:`FactorVAE.main_parameters` leaves it out, and the trainer steps it with
:meth:`FactorVAE.auxiliary_optimizer` on :meth:`FactorVAE.auxiliary_loss`, in the order given in
the :class:`models.base.LatentModel` docstring.
"""

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from models.base import GaussianVAE, LossOutput, ModelOutput
from models.hyperparameters import HyperParameter
from models.precision import fp32_island
from models.registry import register

JOINT, PRODUCT = 0, 1
"""The discriminator's class indices: a sample of q(z), a sample of Π_d q(z_d)."""


def permute_dims(z: torch.Tensor) -> torch.Tensor:
    """Each column of ``z`` (B, D) permuted independently across the batch: if the rows are samples
    of q(z), the result's rows are samples of Π_d q(z_d) (Kim & Mnih 2018, "permute_dims")."""
    order = torch.argsort(torch.rand_like(z), dim=0)
    return z.gather(0, order)


def build_discriminator(latent_dim: int, layers: int = 6, units: int = 1000) -> nn.Sequential:
    """MLP latent_dim → ``layers`` × (Linear(units), LeakyReLU(0.2)) → 2 logits (joint, product)."""
    modules: list[nn.Module] = []
    width = latent_dim
    for _ in range(layers):
        modules += [nn.Linear(width, units), nn.LeakyReLU(0.2)]
        width = units
    modules.append(nn.Linear(width, 2))
    return nn.Sequential(*modules)


@fp32_island
def _output_layer(layer: nn.Module, hidden: torch.Tensor) -> torch.Tensor:
    """The discriminator's output layer in float32: its logits are the TC estimate."""
    return layer(hidden)


@fp32_island
def discriminator_loss(logits_joint: torch.Tensor, logits_product: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """½·CE(joint logits, joint) + ½·CE(product logits, product), and the accuracy, in float32."""
    joint = torch.full((len(logits_joint),), JOINT, dtype=torch.long, device=logits_joint.device)
    product = torch.full((len(logits_product),), PRODUCT, dtype=torch.long, device=logits_product.device)
    loss = 0.5 * (F.cross_entropy(logits_joint, joint) + F.cross_entropy(logits_product, product))
    accuracy = 0.5 * ((logits_joint.argmax(1) == JOINT).float().mean()
                      + (logits_product.argmax(1) == PRODUCT).float().mean())
    return loss, accuracy


@register("factor_vae")
class FactorVAE(GaussianVAE):
    """ELBO + γ·TC with TC from a discriminator trained on a second batch each step."""

    hyperparameters = (HyperParameter(
        "gamma", default=10.0, low=10.0, high=100.0, grid=(10.0, 20.0, 30.0, 40.0, 50.0, 100.0),
        symbol="γ", description="weight of the total correlation", reference="Kim & Mnih 2018"),)
    needs_second_batch: ClassVar[bool] = True
    discriminator_lr: ClassVar[float] = 1e-4
    discriminator_betas: ClassVar[tuple[float, float]] = (0.5, 0.9)

    def __init__(self, latent_dim: int, *, gamma: float = 10.0, **kwargs):
        super().__init__(latent_dim, **kwargs)
        problem = self.hyperparameters[0].check(gamma, "gamma")
        if problem:
            raise ValueError(problem)
        self.gamma = float(gamma)
        self.discriminator = build_discriminator(self.latent_dim)
        self.config["gamma"] = self.gamma

    def discriminator_logits(self, z: torch.Tensor) -> torch.Tensor:
        """D's logits (B, 2): hidden layers under the caller's autocast (bf16 when on), output layer in fp32."""
        *hidden, output = self.discriminator
        for layer in hidden:
            z = layer(z)
        return _output_layer(output, z)

    def tc_per_image(self, z: torch.Tensor) -> torch.Tensor:
        """The discriminator's TC estimate per code, l₀(z) − l₁(z) = log D(z) − log(1 − D(z)), (B,)."""
        logits = self.discriminator_logits(z)
        return logits[:, JOINT] - logits[:, PRODUCT]

    def regularizer(self, out, kl):
        tc = self.tc_per_image(out.z)
        return kl + self.gamma * tc, {"tc": tc.mean()}

    def main_parameters(self) -> list[nn.Parameter]:
        """Encoder and decoder parameters: everything except the discriminator."""
        excluded = {id(p) for p in self.discriminator.parameters()}
        return [p for p in self.parameters() if id(p) not in excluded]

    def auxiliary_optimizer(self) -> torch.optim.Optimizer:
        """A new Adam for the discriminator (lr 1e-4, betas (0.5, 0.9), as disentanglement_lib)."""
        return torch.optim.Adam(self.discriminator.parameters(), lr=self.discriminator_lr,
                                betas=self.discriminator_betas)

    def auxiliary_loss(self, out: ModelOutput, x2: torch.Tensor, noise_scale: float = 1.0) -> LossOutput:
        """The discriminator's cross-entropy, ½·CE(D(z), joint) + ½·CE(D(permute_dims(z₂)), product).

        ``z`` is ``out.z`` detached (the step's batch); z₂ is sampled from q(z|x2) without gradients,
        with the same ``noise_scale`` as the forward that made ``out`` (so the two classes differ
        only in their dependence between dimensions, not in their noise). In training mode the
        encoder's batch norm, if any, sees ``x2`` as well, as it would any training batch.
        """
        with torch.no_grad():
            mu2, logvar2 = self.encode(x2)
            z_product = permute_dims(self.reparameterize(mu2, logvar2, noise_scale))
        loss, accuracy = discriminator_loss(self.discriminator_logits(out.z.detach()),
                                            self.discriminator_logits(z_product))
        return LossOutput(loss, {"disc_loss": loss.detach(), "disc_accuracy": accuracy.detach()})
