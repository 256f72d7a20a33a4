"""β-VAE (Higgins et al. 2017): loss = −E_q log p(x|z) + β·KL(q(z|x) ‖ p(z))."""

from models.base import GaussianVAE
from models.hyperparameters import HyperParameter
from models.registry import register


@register("beta_vae")
class BetaVAE(GaussianVAE):
    """β > 1 trades reconstruction for a more factorised (and blurrier) code."""

    hyperparameters = (HyperParameter(
        "beta", default=4.0, low=1.0, high=16.0, grid=(1.0, 2.0, 4.0, 6.0, 8.0, 16.0),
        symbol="β", description="weight of the KL term", reference="Higgins et al. 2017"),)

    def __init__(self, latent_dim: int, *, beta: float = 4.0, **kwargs):
        super().__init__(latent_dim, **kwargs)
        if not beta > 0:
            raise ValueError(f"beta: must be > 0, got {beta}")
        self.beta = float(beta)
        self.config["beta"] = self.beta

    def regularizer(self, out, kl):
        return self.beta * kl, {}
