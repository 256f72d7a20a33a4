"""The allowed values of config fields, and the error every config check raises.

Kept as plain names so that reading and validating a config does not import torch; the metric
views are derived from the record schema's catalogue (:data:`analysis.schema.CATALOGUE`), the one
place that says what each trial computes.
"""

from __future__ import annotations

from analysis import schema

#: Model types a study may search over (the keys of ``models.MODELS``; kept here as plain names so
#: that reading and validating a config does not import torch).
MODEL_TYPES = ("ae", "vae", "beta_vae", "beta_tcvae")
#: Model types whose objective has a β weight.
BETA_MODELS = ("beta_vae", "beta_tcvae")
#: Model types with a deterministic code: no q(z|x), no KL, so no KL-derived scores.
DETERMINISTIC_MODELS = ("ae",)
ARCHITECTURES = ("burgess", "seed_report")
LIKELIHOODS = ("bernoulli", "gaussian")
TC_ESTIMATORS = ("mss", "mws")
DATASETS = ("dsprites", "mnist", "celeba")
#: Datasets read from a local folder (``data_root`` required).
FOLDER_DATASETS = ("mnist", "celeba")
#: Datasets with ground-truth factors (scored by the factor metrics; the rest by a linear probe).
FACTOR_DATASETS = ("dsprites",)
#: Datasets rendered here by a procedural look-alike (same factor grid as the official release,
#: not its pixels): their scores must never be set beside published numbers of the original.
PROCEDURAL_DATASETS = ("dsprites",)
#: The name each dataset is recorded under (the MLflow parent run's ``dataset`` tag, the report);
#: the config value stays the plain name.
DATASET_RECORD_NAMES: dict[str, str] = {
    name: f"{name}{schema.PROCEDURAL_SUFFIX}" if name in PROCEDURAL_DATASETS else name for name in DATASETS
}
SAMPLERS = ("tpe", "nsga2", "random")
SEARCH_MODES = ("search", "grid")

# The checks of search.objectives / search.asha_metric in :func:`study.config.validate` are
# derived from these views of the catalogue only.
_OBJECTIVES = tuple(m for m in schema.CATALOGUE if m.objective)
#: Metrics a study may optimise, with their natural direction. An objective or an ASHA metric must
#: be one of these, so a typo is caught before the study starts.
METRIC_DIRECTIONS: dict[str, str] = {m.name: m.direction for m in _OBJECTIVES}
#: DCI (gradient-boosted trees per factor): only the full preset pays for it.
DCI_METRICS = tuple(m.name for m in _OBJECTIVES if m.presets == ("full",))
#: Metrics only computed for datasets with ground-truth factors (:data:`FACTOR_DATASETS`).
FACTOR_METRICS = tuple(m.name for m in _OBJECTIVES if m.needs_factors)
#: Metrics only computed for datasets without ground-truth factors (a linear probe of the labels).
PROBE_METRICS = tuple(m.name for m in _OBJECTIVES if m.without_factors)
#: Metrics of the code's usefulness (factor metrics or the probe): not computed by the recon preset.
DISENTANGLEMENT_METRICS = FACTOR_METRICS + PROBE_METRICS
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


def dataset_record_name(dataset: str) -> str:
    """The name ``dataset`` is recorded under (MLflow tag, report): e.g. dsprites-procedural."""
    return DATASET_RECORD_NAMES.get(dataset, dataset)


class ConfigError(ValueError):
    """A configuration value is invalid. The message names the field and how to fix it."""


