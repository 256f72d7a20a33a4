"""The model registry: model type name → class, filled by each model module's ``@register``."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

MODELS: dict[str, type[nn.Module]] = {}
#: Constructor arguments a trial derives from its own config and data, not a model type's settings.
TRIAL_SUPPLIED = ("latent_dim", "architecture", "in_channels", "likelihood", "gaussian_variance", "dataset_size")


def register(name: str) -> Callable[[type], type]:
    """Class decorator adding a model type to :data:`MODELS` under ``name``."""

    def wrap(cls: type) -> type:
        cls.model_type = name
        MODELS[name] = cls
        return cls

    return wrap


def model_settings(model_type: str) -> tuple[str, ...]:
    """What a user may set for ``model_type``: the keyword-only arguments of its constructors
    (its declared hyperparameters first, then fixed settings such as β-TCVAE's ``tc_estimator``),
    without the ones a trial supplies itself (:data:`TRIAL_SUPPLIED`)."""
    cls = MODELS[model_type]
    names = [hp.name for hp in cls.hyperparameters]
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is nn.Module:
            continue
        for p in inspect.signature(init).parameters.values():
            if p.kind is p.KEYWORD_ONLY and p.name not in TRIAL_SUPPLIED and p.name not in names:
                names.append(p.name)
    return tuple(names)


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
