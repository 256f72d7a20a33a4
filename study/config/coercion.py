"""Building the study's config dataclasses from plain mappings (YAML, CLI): unknown keys refused
(a field that moved is named with its new place), each section's values coerced by
:func:`train.coercion.coerce`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from study.config.sections import ResourcesConfig, SearchConfig, SpaceConfig, StudyConfig
from train.coercion import coerce
from train.config import TrialConfig
from train.options import ConfigError

_SECTIONS = {"trial": TrialConfig, "space": SpaceConfig, "search": SearchConfig, "resources": ResourcesConfig}
#: Fields of configs written before each model type declared its own hyperparameters, and where
#: their settings live now (said in the error, so an old YAML file is fixed in one edit).
_MOVED = {("trial", "beta"): "trial.model_params.<type>.beta, e.g. {beta_vae: {beta: 4}}",
          ("trial", "alpha"): "trial.model_params.beta_tcvae.alpha",
          ("trial", "gamma"): "trial.model_params.<type>.gamma (beta_tcvae, factor_vae, annealed_vae)",
          ("trial", "tc_estimator"): "trial.model_params.beta_tcvae.tc_estimator",
          ("space", "beta_min"): "space.ranges.<type>.beta: [low, high]",
          ("space", "beta_max"): "space.ranges.<type>.beta: [low, high]"}


def build(cls: type, data: Mapping[str, Any], where: str) -> Any:
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys and coercing simple types."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping of fields, got {type(data).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        moved = _MOVED.get((where, unknown[0]))
        raise ConfigError(
            f"{where}.{unknown[0]}: unknown field; " + (f"it moved to {moved}" if moved else
                                                        f"known fields of {where or 'the study'} are "
                                                        f"{', '.join(sorted(known))}"))
    kwargs = {}
    for name, value in data.items():
        path = f"{where}.{name}" if where else name
        if name in _SECTIONS and cls is StudyConfig:
            kwargs[name] = build(_SECTIONS[name], value or {}, name)
        else:
            kwargs[name] = coerce(known[name], value, path)
    return cls(**kwargs)


def merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive dict merge: mappings merge, everything else replaces."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged
