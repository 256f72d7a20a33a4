"""The allowed values of the study's config fields (a trial's are in :mod:`train.options`).

Kept as plain names so that reading and validating a config does not import torch; the metric
views are derived from the record schema's catalogue (:data:`analysis.schema.CATALOGUE`), the one
place that says what each trial computes.
"""

from __future__ import annotations

from analysis import schema

#: The seed report's four model types, the default search. Every registered model type (models.MODELS)
#: is allowed; what each one is and which hyperparameters it has is declared by its class.
SEED_MODEL_TYPES = ("ae", "vae", "beta_vae", "beta_tcvae")

SAMPLERS = ("tpe", "nsga2", "random")

#: search: Optuna suggests; grid: the listed configurations; paper_grid: every model type with
#: every value of its declared paper grid (Locatello et al. 2019) × every latent size.
SEARCH_MODES = ("search", "grid", "paper_grid")

# The checks of search.objectives / search.asha_metric in :func:`study.config.validate` are
# derived from these views of the catalogue only.
_OBJECTIVES = tuple(m for m in schema.CATALOGUE if m.objective)
#: Metrics a study may optimise, with their natural direction. An objective or an ASHA metric must
#: be one of these, so a typo is caught before the study starts.
METRIC_DIRECTIONS: dict[str, str] = {m.name: m.direction for m in _OBJECTIVES}
#: Metrics only computed for datasets with ground-truth factors (:data:`train.options.FACTOR_DATASETS`).
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
