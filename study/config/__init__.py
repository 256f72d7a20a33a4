"""Typed, validated configuration of a study.

Everything a study does is decided by one :class:`StudyConfig` (frozen dataclasses, one docstring
per field: :mod:`study.config.sections`), which holds the trainer's :class:`train.config.TrialConfig`
as the template of its trials. Configs come from a named preset shipped in
``study/presets/``, optionally a YAML file (``yaml.safe_load``) and CLI overrides, merged in that
order (:mod:`study.config.loading`, :mod:`study.config.coercion`) and validated in **one** place,
:func:`validate` (:mod:`study.config.validation`), before any Ray or MLflow work starts. Every
error names the bad field and the fix. The allowed values live in :mod:`study.config.options`.
"""

from study.config.coercion import merge
from study.config.loading import (
    from_dict,
    load_preset,
    load_yaml,
    make_config,
    preset_names,
    saved_num_trials,
    set_dotted,
)
from study.config.options import (
    FACTOR_METRICS,
    INTERMEDIATE_METRICS,
    METRIC_DIRECTIONS,
    METRIC_PRESETS,
    PRESET_METRICS,
    PROBABILISTIC_METRICS,
    PROBE_METRICS,
    SAMPLERS,
    SEARCH_MODES,
    SEED_MODEL_TYPES,
)
from study.config.resume import check_resume
from study.config.sections import (
    ResourcesConfig,
    SearchConfig,
    SpaceConfig,
    StudyConfig,
)
from study.config.validation import check_cluster_resources, validate
from train.options import ConfigError

__all__ = [
    "from_dict",
    "load_preset",
    "load_yaml",
    "make_config",
    "merge",
    "preset_names",
    "saved_num_trials",
    "set_dotted",
    "SAMPLERS",
    "SEARCH_MODES",
    "SEED_MODEL_TYPES",
    "METRIC_DIRECTIONS",
    "FACTOR_METRICS",
    "PROBE_METRICS",
    "PROBABILISTIC_METRICS",
    "PRESET_METRICS",
    "METRIC_PRESETS",
    "INTERMEDIATE_METRICS",
    "ConfigError",
    "ResourcesConfig",
    "SearchConfig",
    "SpaceConfig",
    "StudyConfig",
    "check_cluster_resources",
    "check_resume",
    "validate",
]
