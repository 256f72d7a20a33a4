"""Typed, validated configuration of a trial and of a study.

Everything a study does is decided by one :class:`StudyConfig` (frozen dataclasses, one docstring
per field: :mod:`study.config.sections`). Configs come from a named preset shipped in
``study/presets/``, optionally a YAML file (``yaml.safe_load``) and CLI overrides, merged in that
order (:mod:`study.config.loading`, :mod:`study.config.coercion`) and validated in **one** place,
:func:`validate` (:mod:`study.config.validation`), before any Ray or MLflow work starts. Every
error names the bad field and the fix. The allowed values live in :mod:`study.config.options`.
"""

from study.config.coercion import apply_overrides
from study.config.loading import (
    from_dict,
    load_preset,
    load_yaml,
    make_config,
    merge,
    preset_names,
    saved_num_trials,
    set_dotted,
    trial_from_dict,
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
    Amp,
    ConfigError,
)
from study.config.resume import check_resume
from study.config.sections import (
    ResourcesConfig,
    SearchConfig,
    SpaceConfig,
    StudyConfig,
    TrialConfig,
    field_docs,
)
from study.config.validation import check_cluster_resources, validate, validate_trial


def __getattr__(name: str):
    """Dataset and likelihood lists, read from their one declaration on first use
    (:mod:`study.config.options`): importing the config imports no torch."""
    from study.config import options

    if name in options._LAZY:
        return getattr(options, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "apply_overrides",
    "from_dict",
    "load_preset",
    "load_yaml",
    "make_config",
    "merge",
    "preset_names",
    "saved_num_trials",
    "set_dotted",
    "trial_from_dict",
    "LIKELIHOODS",
    "DATASETS",
    "FOLDER_DATASETS",
    "FACTOR_FILE_DATASETS",
    "OFFICIAL_WITH_DATA_ROOT",
    "FACTOR_DATASETS",
    "PROCEDURAL_DATASETS",
    "DATASET_RECORD_NAMES",
    "SAMPLERS",
    "SEARCH_MODES",
    "SEED_MODEL_TYPES",
    "DSPRITES_FAMILY",
    "METRIC_DIRECTIONS",
    "FACTOR_METRICS",
    "PROBE_METRICS",
    "PROBABILISTIC_METRICS",
    "PRESET_METRICS",
    "METRIC_PRESETS",
    "INTERMEDIATE_METRICS",
    "Amp",
    "ConfigError",
    "ResourcesConfig",
    "SearchConfig",
    "SpaceConfig",
    "StudyConfig",
    "TrialConfig",
    "field_docs",
    "check_cluster_resources",
    "check_resume",
    "validate",
    "validate_trial",
]
