"""What config validation knows of model types (only what each model class declares) and of
architectures (the names in ``models.networks.ARCHITECTURES``).

The model classes (``models.MODELS``) are the single source of the type names, their hyperparameters
(name, default range, paper grid: :mod:`models.hyperparameters`), their other settings (their
constructors' keyword arguments) and whether they are probabilistic. Reading them imports torch, so
this module imports ``models`` on first use only: loading and merging a config stays light, and the
first check that needs a model type pays for the import (about 1.5 s warm on this project's 2-core
benchmark machine, before any Ray work starts; see benchmarks/notes/2026-11-27-start-up.md).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from study.config.options import ConfigError


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


def check_ranges(ranges: Mapping[str, Mapping[str, Any]], path: str = "space.ranges") -> None:
    """Each range names a type's declared hyperparameter and is [low, high], low <= high, and
    low > 0 on a log scale."""
    for model_type, by_name in ranges.items():
        cls = check_model_type(model_type, path)
        declared = {hp.name: hp for hp in cls.hyperparameters}
        for name, bounds in by_name.items():
            where = f"{path}.{model_type}.{name}"
            if name not in declared:
                raise ConfigError(f"{where}: {model_type} has no searched hyperparameter {name!r}; "
                                  f"it has {', '.join(declared) or 'none'}")
            hp = declared[name]
            ok = (isinstance(bounds, (tuple, list)) and len(bounds) == 2
                  and all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds))
            if not ok or bounds[0] > bounds[1] or (hp.log and bounds[0] <= 0):
                raise ConfigError(f"{where}: give [low, high] with low <= high{' and low > 0' if hp.log else ''}, "
                                  f"got {bounds!r}; the declared range is [{hp.low:g}, {hp.high:g}]")


def probabilistic_types() -> list[str]:
    """Registered model types with an encoder distribution (a KL term)."""
    return [name for name, cls in model_classes().items() if cls.probabilistic]
