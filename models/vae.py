"""VAE (Kingma & Welling 2014): loss = −ELBO = −E_q log p(x|z) + KL(q(z|x) ‖ p(z))."""

from models.base import GaussianVAE
from models.registry import register


@register("vae")
class VAE(GaussianVAE):
    """The Gaussian-VAE base with its default regulariser, the closed-form KL."""
