"""What a trial's validation knows of model types (only what each model class declares) and of
architectures (``models.networks.ARCHITECTURES``). The model classes import torch, so ``models`` is
imported on first use only: loading and merging a config stays light."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from train.options import ConfigError


def model_classes() -> dict[str, type]:
    """Registered model type → class (importing every model module registers it)."""
    import models  # noqa: F401  (registers the model types)
    from models.registry import MODELS

    return MODELS


def check_model_type(name: str, path: str) -> type:
    """The class of model type ``name``, or a :class:`ConfigError` at ``path`` listing the types."""
    classes = model_classes()
    if name not in classes:
        raise ConfigError(f"{path}: unknown model type {name!r}; choose one of {', '.join(classes)}")
    return classes[name]


def architectures() -> tuple[str, ...]:
    """Registered architecture names (``models.networks.ARCHITECTURES``, the one list)."""
    from models.networks import ARCHITECTURES

    return tuple(ARCHITECTURES)


def check_model_params(params: Mapping[str, Mapping[str, Any]], where: str) -> None:
    """Every ``{type: {name: value}}`` entry names a registered type and settings its constructor
    takes, with values the type accepts (the class's own checks, run on a tiny CPU instance, so the
    message is the model's: it names the argument and the fix)."""
    from models.registry import model_settings

    for model_type, settings in params.items():
        check_model_type(model_type, f"{where}.model_params")
        allowed = model_settings(model_type)
        for name in settings:
            if name not in allowed:
                raise ConfigError(
                    f"{where}.model_params.{model_type}.{name}: not a setting of {model_type}; "
                    f"its settings are {', '.join(allowed) or 'none'}")
        problem = _construction_error(model_type, tuple(sorted(settings.items())))
        if problem:
            raise ConfigError(f"{where}.model_params.{model_type}: {problem}")


@functools.cache
def _construction_error(model_type: str, settings: tuple[tuple[str, Any], ...]) -> str | None:
    from models import build_model

    try:
        build_model(model_type, 2, dataset_size=1000, **dict(settings))
    except (ValueError, TypeError) as exc:
        return str(exc)
    return None
