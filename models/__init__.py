"""VAE-family models for 64×64 images (PyTorch only; nothing here knows of Ray or MLflow).

``MODELS`` maps a model type to its class, ``build_model`` builds one, ``ARCHITECTURES`` lists
the encoder/decoder pairs. Each model type lives in its own module and registers itself.
"""

# Importing each model module registers its model type(s).
from models import ae, annealed_vae, beta_tcvae, beta_vae, dip_vae, factor_vae, vae  # noqa: F401
from models.base import GaussianVAE, LossOutput, ModelOutput
from models.modes import evaluating
from models.networks import ARCHITECTURES
from models.registry import MODELS, build_model, load_model, save_model

__all__ = ["MODELS", "ARCHITECTURES", "build_model", "save_model", "load_model", "GaussianVAE",
           "ModelOutput", "LossOutput", "evaluating"]
