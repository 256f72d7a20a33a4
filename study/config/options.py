"""The allowed values of config fields, and the error every config check raises.

Kept as plain names so that reading and validating a config does not import torch; the metric
views are derived from the record schema's catalogue (:data:`analysis.schema.CATALOGUE`), the one
place that says what each trial computes.
"""

from __future__ import annotations

import functools
from enum import StrEnum

from analysis import schema

#: The seed report's four model types, the default search. Every registered model type (models.MODELS)
#: is allowed; what each one is and which hyperparameters it has is declared by its class.
SEED_MODEL_TYPES = ("ae", "vae", "beta_vae", "beta_tcvae")
# Architectures, likelihoods and datasets are not listed here: their one declaration is
# models.networks.ARCHITECTURES, models.likelihoods.LIKELIHOODS and study.data.DATASETS, which import
# torch. The names below are read from them on first use (PEP 562), so loading and merging a config
# stays light; validating one reads them (it imports the model classes anyway).
_LAZY = ("LIKELIHOODS", "DATASETS", "DSPRITES_FAMILY", "FACTOR_FILE_DATASETS", "FOLDER_DATASETS",
         "FACTOR_DATASETS", "PROCEDURAL_DATASETS", "OFFICIAL_WITH_DATA_ROOT", "DATASET_RECORD_NAMES")


@functools.cache
def _declared() -> dict:
    """The lazy names, read from the data package and the likelihood registry."""
    from models.likelihoods import LIKELIHOODS
    from study.data import DATASETS

    entries = DATASETS.values()
    return {
        "LIKELIHOODS": tuple(LIKELIHOODS),
        #: Every dataset name (the keys of ``study.data.DATASETS``).
        "DATASETS": tuple(DATASETS),
        #: The procedural dSprites and its disentanglement_lib variants (rendered here, no files).
        "DSPRITES_FAMILY": tuple(e.name for e in entries if e.procedural),
        #: Datasets with ground-truth factors read from a local folder, in their official file formats.
        "FACTOR_FILE_DATASETS": tuple(e.name for e in entries if e.folder and e.has_factors),
        #: Datasets read from a local folder (``data_root`` required), in their official file formats.
        "FOLDER_DATASETS": tuple(e.name for e in entries if e.folder),
        #: Datasets with ground-truth factors (scored by the factor metrics; the rest by a linear probe).
        "FACTOR_DATASETS": tuple(e.name for e in entries if e.has_factors),
        #: Procedural look-alikes: their scores must never be set beside published numbers of the original.
        "PROCEDURAL_DATASETS": tuple(e.name for e in entries if e.procedural),
        #: Procedural datasets that read the official file instead when ``data_root`` is set.
        "OFFICIAL_WITH_DATA_ROOT": tuple(e.name for e in entries if e.official),
        #: The name each dataset is recorded under without a data root (MLflow ``dataset`` tag, report).
        "DATASET_RECORD_NAMES": {e.name: e.record_name() for e in entries},
    }


def __getattr__(name: str):
    if name in _LAZY:
        return _declared()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


SAMPLERS = ("tpe", "nsga2", "random")


class Amp(StrEnum):
    """``trial.amp``: bf16 autocast where it pays (auto), always (true) or never (false)."""

    AUTO = "auto"
    ON = "true"
    OFF = "false"

#: search: Optuna suggests; grid: the listed configurations; paper_grid: every model type with
#: every value of its declared paper grid (Locatello et al. 2019) × every latent size.
SEARCH_MODES = ("search", "grid", "paper_grid")

# The checks of search.objectives / search.asha_metric in :func:`study.config.validate` are
# derived from these views of the catalogue only.
_OBJECTIVES = tuple(m for m in schema.CATALOGUE if m.objective)
#: Metrics a study may optimise, with their natural direction. An objective or an ASHA metric must
#: be one of these, so a typo is caught before the study starts.
METRIC_DIRECTIONS: dict[str, str] = {m.name: m.direction for m in _OBJECTIVES}
#: Metrics only computed for datasets with ground-truth factors (:data:`FACTOR_DATASETS`).
FACTOR_METRICS = tuple(m.name for m in _OBJECTIVES if m.needs_factors)
#: Metrics only computed for datasets without ground-truth factors (a linear probe of the labels).
PROBE_METRICS = tuple(m.name for m in _OBJECTIVES if m.without_factors)
#: Metrics that need a probabilistic encoder q(z|x) (a KL term): never computed for
#: :data:`DETERMINISTIC_MODELS`.
PROBABILISTIC_METRICS = tuple(m.name for m in _OBJECTIVES if m.needs_probabilistic)
#: Metric preset → the metrics it computes: full computes all, fast all but DCI, recon no
#: disentanglement metric. The keys are the valid values of ``trial.metrics``.
PRESET_METRICS: dict[str, tuple[str, ...]] = {
    preset: tuple(m.name for m in _OBJECTIVES if preset in m.presets) for preset in schema.METRIC_PRESETS
}
METRIC_PRESETS = tuple(PRESET_METRICS)
#: Metrics that are reported while training (usable by ASHA); the rest only exist at the end.
INTERMEDIATE_METRICS = tuple(m.name for m in _OBJECTIVES if m.intermediate)


class ConfigError(ValueError):
    """A configuration value is invalid. The message names the field and how to fix it."""


