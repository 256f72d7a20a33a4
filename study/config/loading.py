"""Where configs come from: a shipped preset, a YAML file and overrides, merged in that order, then
validated (:func:`make_config`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib import resources
from typing import Any

import yaml

from study.config.coercion import build, merge
from study.config.sections import StudyConfig
from study.config.validation import validate
from train.options import ConfigError


def preset_names() -> list[str]:
    """Names of the presets shipped in ``study/presets``."""
    folder = resources.files("study") / "presets"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_preset(name: str) -> dict[str, Any]:
    """The raw mapping of a shipped preset."""
    path = resources.files("study") / "presets" / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"preset: unknown preset {name!r}; choose one of {', '.join(preset_names())}")
    return yaml.safe_load(path.read_text()) or {}


def load_yaml(path: str) -> dict[str, Any]:
    """Read a YAML config file (``yaml.safe_load``)."""
    if not os.path.isfile(path):
        raise ConfigError(f"config: file {path!r} does not exist; pass an existing YAML file to --config")
    with open(path) as handle:
        data = yaml.safe_load(handle) or {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"config: {path!r} must hold a mapping of fields at the top level")
    return dict(data)


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """Return ``data`` with ``a.b.c = value`` set (used for ``--set`` overrides)."""
    keys = dotted.split(".")
    update: Any = value
    for key in reversed(keys):
        update = {key: update}
    return merge(data, update)


def make_config(
    preset: str | None = "quick",
    path: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> StudyConfig:
    """Preset, then YAML file, then overrides (a nested mapping), then :func:`validate`."""
    data: dict[str, Any] = load_preset(preset) if preset else {}
    if path:
        data = merge(data, load_yaml(path))
    if overrides:
        data = merge(data, overrides)
    return validate(build(StudyConfig, data, ""))


def from_dict(data: Mapping[str, Any]) -> StudyConfig:
    """Build and validate a config from its plain (YAML) form."""
    return validate(build(StudyConfig, data, ""))


def saved_num_trials(path: str) -> int:
    """The trial total of the config saved at ``path`` (read as saved, its redacted values unchecked)."""
    return build(StudyConfig, load_yaml(path), "").num_trials()
