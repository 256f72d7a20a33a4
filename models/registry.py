"""The model registry: model type name → class, filled by each model module's ``@register``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

MODELS: dict[str, type[nn.Module]] = {}


def register(name: str) -> Callable[[type], type]:
    """Class decorator adding a model type to :data:`MODELS` under ``name``."""

    def wrap(cls: type) -> type:
        cls.model_type = name
        MODELS[name] = cls
        return cls

    return wrap


def build_model(model_type: str, latent_dim: int, **kwargs: Any) -> nn.Module:
    """A fresh model of ``model_type``; keyword arguments a model type does not use are ignored
    (e.g. ``beta`` for the VAE), so one call site serves every type."""
    if model_type not in MODELS:
        raise ValueError(f"model_type: unknown model type {model_type!r}; choose one of {', '.join(MODELS)}")
    return MODELS[model_type](latent_dim, **kwargs)


def save_model(model: nn.Module, path: str) -> None:
    """Save weights and the config needed to rebuild the model (plain types only: model type,
    sizes, architecture, likelihood and, for the Gaussian one, its σ² ``gaussian_variance``,
    β and the other objective weights)."""
    torch.save({"config": dict(model.config), "state_dict": model.state_dict()}, path)


def load_model(path: str, map_location: str | torch.device = "cpu") -> nn.Module:
    """Rebuild a model saved by :func:`save_model` (``torch.load(weights_only=True)``)."""
    blob = torch.load(path, map_location=map_location, weights_only=True)
    config = dict(blob["config"])
    model = build_model(config.pop("model_type"), config.pop("latent_dim"), **config)
    model.load_state_dict(blob["state_dict"])
    return model
