"""AE: a deterministic autoencoder trained on reconstruction alone (the seed report's baseline)."""

from models.base import AutoEncoder
from models.registry import register


@register("ae")
class AE(AutoEncoder):
    """loss = −log p(x | enc(x)); with the Gaussian likelihood, the summed squared error."""
