"""Typed values from plain ones (YAML, CLI, a grid entry, an Optuna suggestion): each value coerced
to its field's declared type, unknown keys refused, every failure naming the field."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from train.config import TrialConfig
from train.options import Amp, ConfigError

#: Fields typed by a choice enum (annotation → the enum): YAML booleans read as "true"/"false".
_CHOICES = {"Amp": Amp}


def coerce(f: dataclasses.Field, value: Any, path: str) -> Any:
    """Coerce YAML/CLI values to the field's declared type; name the field on failure."""
    default = f.default if f.default is not dataclasses.MISSING else None
    annotation = str(f.type)
    if value is None:
        if "None" in annotation:
            return None
        raise ConfigError(f"{path}: must not be null; remove it to use the default {default!r}")
    if annotation in _CHOICES:
        return _to_choice(_CHOICES[annotation], value, path)
    try:
        if annotation.startswith("Mapping"):
            return _nested_mapping(value, path)
        if annotation.startswith("tuple"):
            if isinstance(value, str):  # a CLI value: comma-separated
                value = [v.strip() for v in value.split(",") if v.strip()]
            elif isinstance(value, (int, float, Mapping)):
                value = [value]
            if "Mapping" in annotation:
                return tuple(dict(v) if isinstance(v, Mapping) else v for v in value)
            if "int" in annotation:
                return tuple(_to_int(v) for v in value)
            return tuple(str(v) for v in value)
        if annotation.startswith("bool"):
            return _to_bool(value)
        if annotation.startswith("int"):
            return _to_int(value)
        if annotation.startswith("float"):
            return float(value)
        if annotation.startswith("str"):
            if not isinstance(value, (str, int, float)):
                raise TypeError(type(value).__name__)
            return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read {value!r} as {annotation} ({exc})") from None
    return value


def _nested_mapping(value: Any, path: str) -> dict[str, dict[str, Any]]:
    """{type: {name: value}} (model_params, ranges): keys as strings, inner values as given
    (validation checks them against each model type's declaration); lists become tuples."""
    if not isinstance(value, Mapping):
        raise TypeError("expected a mapping of model type → settings, e.g. {beta_vae: {beta: 4}}")
    out = {}
    for key, inner in value.items():
        if not isinstance(inner, Mapping):
            raise ConfigError(f"{path}.{key}: expected a mapping of names to values, e.g. {{beta: 4}}")
        out[str(key)] = {str(k): tuple(v) if isinstance(v, list) else v for k, v in inner.items()}
    return out


def _to_choice(choices: type, value: Any, path: str):
    """A member of the StrEnum ``choices``; a YAML/CLI boolean is its lower-case spelling."""
    text = str(value).strip().lower()
    try:
        return choices(text)
    except ValueError:
        raise ConfigError(f"{path}: unknown value {value!r}; choose one of "
                          f"{', '.join(c.value for c in choices)}") from None


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("a boolean is not an integer")
    if isinstance(value, float) and not value.is_integer():
        raise ValueError("not a whole number")
    return int(value)


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def coerce_fields(cls: type, data: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``data``'s values coerced to the declared types of ``cls``'s fields (unknown keys refused):
    how typed updates to an existing config are made from plain values (grid entries, Optuna)."""
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}: unknown field; known: {', '.join(sorted(known))}")
    return {name: coerce(known[name], value, f"{where}.{name}") for name, value in data.items()}


def apply_overrides(template: TrialConfig, overrides: Mapping[str, Any], where: str = "trial") -> TrialConfig:
    """``template`` with a grid entry's or a suggestion's overrides: keys that are trial fields are
    coerced to their types; any other key is a setting of the (overridden) model type, e.g.
    ``{model_type: beta_vae, beta: 4}`` sets ``model_params.beta_vae.beta``. Not validated here."""
    names = {f.name for f in fields(TrialConfig)}
    config = template.with_updates(**coerce_fields(TrialConfig, {k: v for k, v in overrides.items() if k in names},
                                                   where))
    own = {k: v for k, v in overrides.items() if k not in names}
    if not own:
        return config
    params = {mt: dict(p) for mt, p in config.model_params.items()}
    params.setdefault(config.model_type, {}).update(own)
    return config.with_updates(model_params=params)
