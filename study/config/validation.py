"""Validation, the one place configs are checked: every error names the field and the fix, and is
raised before any Ray or MLflow work starts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from analysis.schema import ESTIMATE_PRESET, METRICS
from study.config.model_types import check_ranges, probabilistic_types
from study.config.options import (
    FACTOR_METRICS,
    INTERMEDIATE_METRICS,
    METRIC_DIRECTIONS,
    PRESET_METRICS,
    PROBABILISTIC_METRICS,
    PROBE_METRICS,
    SAMPLERS,
    SEARCH_MODES,
)
from study.config.sections import StudyConfig
from train import options
from train.coercion import apply_overrides
from train.config import TrialConfig
from train.model_types import check_model_type, model_classes
from train.options import ConfigError
from train.validation import check, one_of, validate_trial

#: The smallest TPE history limit: TPE's good density is built from a tenth of what it sees.
MIN_HISTORY = 20


def validate(config: StudyConfig) -> StudyConfig:
    """Validate a whole study config (and return it). The one place where configs are checked."""
    check(bool(config.name) and "/" not in config.name and config.name.strip() == config.name,
          f"name: {config.name!r} is not a usable study name; use letters, digits, - and _")
    check(bool(config.root), "root: must be a folder path, e.g. betasweep-runs")
    for name in ("tracking_wait", "tracking_start_wait"):
        value = getattr(config, name)
        check(isinstance(value, (int, float)) and value >= 0, f"{name}: must be a number of seconds >= 0, e.g. 30")
    validate_trial(config.trial, "trial")
    _validate_space(config)
    _validate_search(config)
    _validate_resources(config)
    for key in config.secrets:
        check(isinstance(key, str) and key, "secrets: list config key names, e.g. [data_root]")
    return config


def _validate_space(config: StudyConfig) -> None:
    space = config.space
    one_of(space.mode, SEARCH_MODES, "space.mode")
    check(len(space.model_types) > 0, "space.model_types: list at least one model type, e.g. [vae, beta_vae]")
    for name in space.model_types:
        check_model_type(name, "space.model_types")
    check_ranges(space.ranges)
    check(len(space.latent_dims) > 0, "space.latent_dims: list at least one latent size, e.g. [10]")
    for dim in space.latent_dims:
        check(dim >= 1, f"space.latent_dims: every latent size must be >= 1, got {dim}")
    if (space.lr_min is None) != (space.lr_max is None):
        raise ConfigError("space.lr_min/lr_max: set both to search the learning rate, or neither")
    if space.lr_min is not None:
        check(0 < space.lr_min <= space.lr_max, "space.lr_min: need 0 < lr_min <= lr_max")
    check(space.seeds_per_config >= 1, f"space.seeds_per_config: must be >= 1, got {space.seeds_per_config}")
    if space.mode == "grid":
        check(len(space.grid) > 0, "space.grid: grid mode needs at least one configuration; "
                                    "list them, e.g. [{model_type: vae}, {model_type: beta_vae, beta: 5}]")
    for trial, where in _trial_variants(config):
        validate_trial(trial, where["entry"])


def _validate_search(config: StudyConfig) -> None:
    space, search = config.space, config.search
    check(search.num_trials >= 1, f"search.num_trials: must be >= 1, got {search.num_trials}")
    if space.mode == "search" and not space.seed_as_param:
        check(search.num_trials % space.seeds_per_config == 0,
              f"search.num_trials: {search.num_trials} is not a multiple of space.seeds_per_config "
              f"({space.seeds_per_config}); use a multiple so every configuration gets all its seeds")
    check(len(search.objectives) >= 1,
          "search.objectives: list at least one metric, e.g. [recon_error, beta_vae_score]")
    check(len(set(search.objectives)) == len(search.objectives), "search.objectives: an objective is listed twice")
    for name in search.objectives:
        check(name in METRIC_DIRECTIONS,
              f"search.objectives: no metric produces {name!r}; choose from {', '.join(METRIC_DIRECTIONS)}")
        _check_computed(config, name, "search.objectives")
    one_of(search.sampler, SAMPLERS, "search.sampler")
    check(search.history_limit == 0 or search.history_limit >= MIN_HISTORY,
          f"search.history_limit: must be 0 (every trial) or >= {MIN_HISTORY}, got {search.history_limit}; "
          f"use e.g. 1000")
    if search.asha:
        _validate_early_stopping(config)


def _validate_early_stopping(config: StudyConfig) -> None:
    """ASHA on ``asha_metric`` with one objective; with several, multi-objective ASHA on the
    estimates of all of them at rungs that must fall on report steps."""
    space, search, trial = config.space, config.search, config.trial
    check(search.asha_metric in INTERMEDIATE_METRICS,  # checked even when several objectives leave it unused
          f"search.asha_metric: {search.asha_metric!r} is not reported during training; "
          f"use one of {', '.join(INTERMEDIATE_METRICS)}")
    _check_computed(config, search.asha_metric, "search.asha_metric")
    if len(search.objectives) > 1:
        for name in search.objectives:
            check(ESTIMATE_PRESET in METRICS[name].presets,
                  f"search.objectives: {name!r} has no cheap estimate at early-stopping rungs (multi-objective "
                  f"ASHA compares every objective there); drop it or turn off search.asha")
        check(search.asha_grace_steps % trial.report_every == 0,
              f"search.asha_grace_steps: {search.asha_grace_steps} must be a multiple of trial.report_every "
              f"({trial.report_every}) so every rung is a report step")
    check(search.asha_grace_steps >= trial.report_every,
          "search.asha_grace_steps: must be >= trial.report_every")
    check(search.asha_reduction_factor >= 2, "search.asha_reduction_factor: must be >= 2")
    check(space.seeds_per_config == 1 or space.seed_as_param,
          "search.asha: early stopping cannot be combined with repeated seeds per configuration "
          "(a stopped seed would leave its group incomplete); set space.seeds_per_config to 1 "
          "or space.seed_as_param to true")


def _validate_resources(config: StudyConfig) -> None:
    res = config.resources
    check(res.cpus > 0, f"resources.cpus: must be > 0, got {res.cpus}")
    check(res.gpus >= 0, f"resources.gpus: must be >= 0, got {res.gpus}")
    check(res.gpus <= 1 or float(res.gpus).is_integer(),
          f"resources.gpus: {res.gpus} GPUs per trial: above 1 use whole GPUs (Ray cannot split across GPUs)")
    check(res.max_concurrent >= 1, f"resources.max_concurrent: must be >= 1, got {res.max_concurrent}")
    check(res.max_failures >= 0, f"resources.max_failures: must be >= 0, got {res.max_failures}")
    if config.trial.device == "cuda":
        check(res.gpus > 0, "trial.device: cuda needs resources.gpus > 0 so Ray assigns a GPU to the trial")


def _trial_variants(config: StudyConfig) -> list[tuple[TrialConfig, Mapping[str, str]]]:
    """Every trial shape the study can run, each with where its fields are set.

    Search mode: the trial template with each of ``space.model_types``; grid mode: the template
    merged with each grid entry. The mapping gives, for the fields an objective depends on
    (model_type, dataset, metrics), the config path to change (e.g. ``space.grid[2].metrics``).
    """
    trial = config.trial
    if config.space.mode == "grid":
        variants = []
        for i, entry in enumerate(config.space.grid):
            _check_grid_entry(entry, i)
            merged = apply_overrides(trial, entry, f"space.grid[{i}]")
            where = {key: f"space.grid[{i}].{key}" if key in entry else f"trial.{key}"
                     for key in ("model_type", "dataset", "metrics")}
            where["entry"] = f"space.grid[{i}]"
            variants.append((merged, where))
        return variants
    where = {"model_type": "space.model_types", "dataset": "trial.dataset", "metrics": "trial.metrics",
             "entry": "trial"}
    if config.space.mode == "paper_grid":
        return [(apply_overrides(trial, entry, "space"), where) for entry in config.space.configurations()]
    return [(trial.with_updates(model_type=m), where) for m in config.space.model_types]


def _check_computed(config: StudyConfig, name: str, path: str) -> None:
    """Refuse metric ``name`` (at config field ``path``) if some trial of the study never computes
    it: every such trial would score NaN, be marked failed, and the study would end without a front.
    Derived from :data:`PRESET_METRICS`, :data:`FACTOR_METRICS`, :data:`PROBE_METRICS`,
    :data:`FACTOR_DATASETS`, :data:`PROBABILISTIC_METRICS` and each model class's ``probabilistic``."""
    for t, where in _trial_variants(config):
        if name in FACTOR_METRICS and t.dataset not in options.FACTOR_DATASETS:
            raise ConfigError(
                f"{path}: {name!r} needs ground-truth factors, which dataset {t.dataset!r} "
                f"({where['dataset']}) lacks; use {' or '.join(PROBE_METRICS)} instead, or a dataset "
                f"with factors ({', '.join(options.FACTOR_DATASETS)})")
        if name in PROBE_METRICS and t.dataset in options.FACTOR_DATASETS:
            usable = [m for m in FACTOR_METRICS if m in PRESET_METRICS[t.metrics]] or list(FACTOR_METRICS)
            raise ConfigError(
                f"{path}: {name!r} is only computed for datasets without ground-truth factors "
                f"({', '.join(d for d in options.DATASETS if d not in options.FACTOR_DATASETS)}), not for "
                f"{where['dataset']}={t.dataset}; use a factor metric such as {', '.join(usable)}")
        if name not in PRESET_METRICS[t.metrics]:
            presets = [p for p, computed in PRESET_METRICS.items() if name in computed]
            raise ConfigError(
                f"{path}: {name!r} is not computed with {where['metrics']}={t.metrics}; "
                f"set {where['metrics']} to {' or '.join(presets)}, or drop {name} from {path}")
        if name in PROBABILISTIC_METRICS and not model_classes()[t.model_type].probabilistic:
            probabilistic = ", ".join(probabilistic_types())
            if config.space.mode != "grid":
                fix = f"remove {t.model_type} from space.model_types"
            elif where["model_type"] == "trial.model_type":
                fix = f"set model_type in {where['entry']} to one of {probabilistic}"
            else:
                fix = f"remove the {t.model_type} entry {where['entry']} from space.grid"
            raise ConfigError(
                f"{path}: {name!r} needs a probabilistic encoder (a KL term), which model type "
                f"{t.model_type!r} ({where['model_type']}) has not; {fix}, or drop {name} from {path}")


_GRID_KEYS = {f.name for f in fields(TrialConfig)}


def _check_grid_entry(entry: Mapping[str, Any], index: int) -> None:
    """An entry holds trial fields and, by their own names, settings of its model type."""
    from models.registry import model_settings

    if not isinstance(entry, Mapping):
        raise ConfigError(f"space.grid[{index}]: each entry must be a mapping of trial fields")
    if "model_type" in entry:
        check_model_type(entry["model_type"], f"space.grid[{index}].model_type")
    settings = set(model_settings(entry["model_type"])) if "model_type" in entry else set()
    unknown = sorted(set(entry) - _GRID_KEYS - settings)
    if unknown:
        raise ConfigError(f"space.grid[{index}].{unknown[0]}: neither a trial field nor a setting of "
                          f"{entry.get('model_type', 'the model type')} ({', '.join(sorted(settings)) or 'none'}); "
                          f"trial fields: {', '.join(sorted(_GRID_KEYS))}")


def check_cluster_resources(config: StudyConfig, available: Mapping[str, float]) -> None:
    """Refuse a study whose per-trial resources no node set of this cluster can satisfy.

    ``available`` is ``ray.cluster_resources()`` (totals, autoscaler-visible). A trial asking for
    GPUs on a cluster without any is refused here, before any trial starts.
    """
    res = config.resources
    gpus_total = float(available.get("GPU", 0.0))
    cpus_total = float(available.get("CPU", 0.0))
    if res.gpus > 0 and gpus_total < res.gpus:
        raise ConfigError(
            f"resources.gpus: each trial asks for {res.gpus} GPU but the Ray cluster has {gpus_total:g}; "
            f"set resources.gpus to 0 (--gpus 0) or add GPU nodes"
        )
    if cpus_total < res.cpus:
        raise ConfigError(
            f"resources.cpus: each trial asks for {res.cpus} CPU but the Ray cluster has {cpus_total:g}; "
            f"lower resources.cpus (--cpus) or add nodes"
        )


