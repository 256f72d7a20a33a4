"""Typed, validated configuration of a trial and of a study.

Everything a study does is decided by one :class:`StudyConfig` (frozen dataclasses, one docstring
per field). Configs come from a named preset shipped in ``study/presets/``, optionally a YAML file
(``yaml.safe_load``) and CLI overrides, merged in that order and validated in **one** place,
:func:`validate`, before any Ray or MLflow work starts. Every error names the bad field and the fix.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from importlib import resources
from itertools import pairwise
from typing import Any

import yaml

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

# The metrics come from the record schema's catalogue (analysis.schema.CATALOGUE), the one place
# that says what each trial computes; the checks of search.objectives / search.asha_metric in
# :func:`validate` are derived from these views of it only.
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


@dataclass(frozen=True)
class TrialConfig:
    """One training run: data, model, optimiser, budget and scoring."""

    model_type: str = "beta_vae"
    """Model type: one of ae, vae, beta_vae, beta_tcvae."""
    beta: float = 4.0
    """Weight of the KL (β-VAE) or total-correlation (β-TCVAE) term; ignored by ae and vae."""
    latent_dim: int = 10
    """Number of latent dimensions D."""
    seed: int = 0
    """Seed of the parameter init, the minibatch stream and the metrics."""
    architecture: str = "burgess"
    """Encoder/decoder pair: burgess (Burgess et al. 2018) or seed_report."""
    dataset: str = "dsprites"
    """Dataset: dsprites (procedural look-alike, no files; recorded as dsprites-procedural), mnist
    or celeba (local folder, see data_root)."""
    data_root: str | None = None
    """Folder holding MNIST/CelebA files (unused for dsprites)."""
    likelihood: str | None = None
    """Reconstruction likelihood: bernoulli or gaussian; null = the dataset's default."""
    gaussian_variance: float = 0.5
    """σ² of the Gaussian likelihood p(x|z) = N(x̂, σ²I) (ignored by bernoulli). The NLL is
    Σ_pixels (x − x̂)²/(2σ²), the constant ½·log(2πσ²) per pixel dropped, so 0.5 makes it the
    summed squared error. σ² sets the effective β: multiplying the loss by 2σ² leaves its minimiser
    unchanged and turns it into SSE + 2σ²·β·KL, so β at σ² acts like β·2σ² at σ² = 1/2 (a VAE at
    σ² = 2 behaves like a β-VAE with β = 4 at σ² = 1/2; for β-TCVAE every weight α, β, γ scales by
    2σ²). recon_error (nats) scales with 1/σ²: compare it only between trials of the same σ²."""
    tc_estimator: str = "mss"
    """β-TCVAE minibatch estimator of log q(z): mss (stratified) or mws (weighted)."""
    alpha: float = 1.0
    """β-TCVAE weight of the index-code mutual information."""
    gamma: float = 1.0
    """β-TCVAE weight of the dimension-wise KL."""
    kl_warmup_steps: int = 0
    """Warm-up length in steps (0 = off): the WHOLE regulariser (β·KL for β-VAE; for β-TCVAE all
    of α·MI + β·TC + γ·dwKL) and the posterior sampling noise (z = μ + s·σ·ε) are both scaled by
    s = step / kl_warmup_steps, rising from 0 to 1; ignored by ae. On dSprites a VAE whose decoder
    sees full-noise codes from step 0 sits on the "mean image" plateau (recon ≈ 590 nats) for
    ~2,000 steps at lr 1e-3, KL warm-up or not; ramping the noise too lets it leave within ~300
    steps (benchmarks/README.md). After the warm-up the objective is the model's own."""
    batch_size: int = 64
    """Training minibatch size."""
    lr: float = 1e-4
    """Adam learning rate."""
    steps: int = 2000
    """Training budget in optimiser steps."""
    report_every: int = 100
    """Report training curves (and the validation reconstruction error) every this many steps."""
    checkpoint_every: int = 500
    """Write a resumable checkpoint every this many steps (rounded to a multiple of report_every)."""
    val_size: int = 256
    """Held-out images used for the validation reconstruction error at each report."""
    eval_size: int = 2048
    """Held-out images used for the final reconstruction/blur scores and β-TCVAE terms."""
    metrics: str = "fast"
    """Disentanglement scoring preset: fast (small samples, CPU studies), full (paper sizes) or recon."""
    device: str = "auto"
    """Device: auto (the GPU Ray assigned, else CPU), cpu or cuda."""
    gpus: float = 0.0
    """GPUs this trial holds (set from the study's resources; 0 means never touch a GPU)."""
    num_threads: int = 0
    """torch intra-op threads (0 = leave torch's default)."""
    amp: bool = False
    """bf16 autocast on CUDA (ignored with a logged note on CPU)."""
    compile: bool = False
    """torch.compile the model on CUDA (ignored with a logged note on CPU)."""
    nan_at_step: int | None = None
    """Fault injection for tests: make the loss NaN at this step (null = never)."""

    def with_updates(self, **changes: Any) -> TrialConfig:
        """A copy with some fields changed (then re-validated by the caller)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class SpaceConfig:
    """The search space: what Optuna chooses per trial (or the fixed grid)."""

    mode: str = "search"
    """search (Optuna suggests configurations) or grid (exactly the listed configurations)."""
    model_types: tuple[str, ...] = MODEL_TYPES
    """Model types to search over."""
    beta_min: float = 1.0
    """Lower end of the log-uniform β range (β-VAE, β-TCVAE only)."""
    beta_max: float = 32.0
    """Upper end of the log-uniform β range."""
    latent_dims: tuple[int, ...] = (10,)
    """Latent sizes to choose from (one value = fixed)."""
    lr_min: float | None = None
    """If set with lr_max, the learning rate is searched log-uniformly; else the trial's lr is used."""
    lr_max: float | None = None
    """Upper end of the learning-rate range."""
    seeds_per_config: int = 1
    """Repeat each suggested configuration with seeds 0..K-1 (Optuna is told the seed mean)."""
    seed_as_param: bool = False
    """Instead of repeats, let the seed be a searched dimension in [0, seeds_per_config)."""
    grid: tuple[Mapping[str, Any], ...] = ()
    """grid mode: the configurations (trial-config overrides, e.g. {model_type: beta_vae, beta: 5})."""


@dataclass(frozen=True)
class SearchConfig:
    """How many trials, which objectives, which sampler, early stopping."""

    num_trials: int = 8
    """Total trials in search mode (all seeds included); grid mode runs len(grid) × seeds_per_config."""
    objectives: tuple[str, ...] = ("recon_error", "beta_vae_score")
    """Metrics to optimise; directions come from the metric (recon_error ↓, beta_vae_score ↑, ...)."""
    sampler: str = "tpe"
    """Optuna sampler: tpe (multivariate TPE), nsga2 or random."""
    sampler_seed: int = 0
    """Seed of the Optuna sampler."""
    asha: bool = False
    """Stop unpromising trials early with ASHA (they are told to Optuna as PRUNED)."""
    asha_metric: str = "val_recon_error"
    """Single metric ASHA compares while training (must be reported during training)."""
    asha_grace_steps: int = 500
    """ASHA: minimum steps before a trial can be stopped."""
    asha_reduction_factor: int = 2
    """ASHA: keep the best 1/reduction_factor at each rung."""


@dataclass(frozen=True)
class ResourcesConfig:
    """Per-trial resources and concurrency."""

    cpus: float = 1.0
    """CPUs per trial."""
    gpus: float = 0.0
    """GPUs per trial; fractions pack several trials on one GPU (0.25 → 4 per GPU)."""
    max_concurrent: int = 2
    """At most this many trials at once (also bounds the Optuna suggestions in flight)."""
    reuse_actors: bool = True
    """Reuse trial worker processes between trials (seeds are reset per trial)."""
    max_failures: int = 2
    """Retries of a crashed trial (it resumes from its last checkpoint)."""


@dataclass(frozen=True)
class StudyConfig:
    """A whole study: name, where things go, the trial template, space, search, resources."""

    name: str = "quick"
    """Study name: the MLflow parent run, the Optuna study and the results folder are named after it."""
    root: str = "betasweep-runs"
    """Folder for the embedded MLflow store, Optuna storage and Ray results (shared on a cluster)."""
    experiment: str = "betasweep"
    """MLflow experiment name."""
    tracking_uri: str | None = None
    """MLflow tracking URI; null = $MLFLOW_TRACKING_URI, else sqlite:///<root>/mlflow.db."""
    address: str | None = None
    """Ray cluster address; null = $RAY_ADDRESS, else a local Ray instance started by the study."""
    trial: TrialConfig = field(default_factory=TrialConfig)
    """Template of every trial; the space overrides model_type, beta, latent_dim, seed (and lr)."""
    space: SpaceConfig = field(default_factory=SpaceConfig)
    """Search space."""
    search: SearchConfig = field(default_factory=SearchConfig)
    """Search and scheduling."""
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)
    """Per-trial resources."""
    secrets: tuple[str, ...] = ()
    """Names of config keys that must never be logged (e.g. a token passed through the config)."""
    tracking_wait: float = 300.0
    """Seconds the driver waits at the end for an unreachable MLflow server before leaving the
    buffered records to `python -m study.sync`."""

    @property
    def study_dir(self) -> str:
        """Absolute folder of this study's Optuna storage, Ray results and tracking buffer."""
        return os.path.join(os.path.abspath(self.root), self.name)

    def objective_directions(self) -> dict[str, str]:
        """Objective name → "min" | "max", in the configured order."""
        return {name: METRIC_DIRECTIONS[name] for name in self.search.objectives}

    def num_trials(self) -> int:
        """Total trials the study runs."""
        if self.space.mode == "grid":
            return len(self.space.grid) * self.space.seeds_per_config
        return self.search.num_trials

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (tuples as lists), the YAML form."""
        return _plain(dataclasses.asdict(self))


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


_SECTIONS = {"trial": TrialConfig, "space": SpaceConfig, "search": SearchConfig, "resources": ResourcesConfig}


def _build(cls: type, data: Mapping[str, Any], where: str) -> Any:
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys and coercing simple types."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping of fields, got {type(data).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(
            f"{where}.{unknown[0]}: unknown field; known fields of {where or 'the study'} are "
            f"{', '.join(sorted(known))}"
        )
    kwargs = {}
    for name, value in data.items():
        path = f"{where}.{name}" if where else name
        if name in _SECTIONS and cls is StudyConfig:
            kwargs[name] = _build(_SECTIONS[name], value or {}, name)
        else:
            kwargs[name] = _coerce(known[name], value, path)
    return cls(**kwargs)


def _coerce(f: dataclasses.Field, value: Any, path: str) -> Any:
    """Coerce YAML/CLI values to the field's declared type; name the field on failure."""
    default = f.default if f.default is not dataclasses.MISSING else None
    annotation = str(f.type)
    if value is None:
        if "None" in annotation:
            return None
        raise ConfigError(f"{path}: must not be null; remove it to use the default {default!r}")
    try:
        if annotation.startswith("tuple"):
            if isinstance(value, (str, int, float, Mapping)):
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


def _merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive dict merge: mappings merge, everything else replaces."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


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
    return _merge(data, update)


def make_config(
    preset: str | None = "quick",
    path: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> StudyConfig:
    """Preset, then YAML file, then overrides (a nested mapping), then :func:`validate`."""
    data: dict[str, Any] = load_preset(preset) if preset else {}
    if path:
        data = _merge(data, load_yaml(path))
    if overrides:
        data = _merge(data, overrides)
    return validate(_build(StudyConfig, data, ""))


def from_dict(data: Mapping[str, Any]) -> StudyConfig:
    """Build and validate a config from its plain (YAML) form."""
    return validate(_build(StudyConfig, data, ""))


def trial_from_dict(data: Mapping[str, Any]) -> TrialConfig:
    """Build and validate a trial config from a plain mapping."""
    config = _build(TrialConfig, data, "trial")
    validate_trial(config, "trial")
    return config


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _one_of(value: Any, allowed: tuple, path: str) -> None:
    _check(value in allowed, f"{path}: unknown value {value!r}; choose one of {', '.join(map(str, allowed))}")


def validate_trial(t: TrialConfig, where: str = "trial") -> None:
    """Check one trial config; raises :class:`ConfigError` naming the field and the fix."""
    _one_of(t.model_type, MODEL_TYPES, f"{where}.model_type")
    _one_of(t.architecture, ARCHITECTURES, f"{where}.architecture")
    _one_of(t.dataset, DATASETS, f"{where}.dataset")
    if t.likelihood is not None:
        _one_of(t.likelihood, LIKELIHOODS, f"{where}.likelihood")
    _one_of(t.tc_estimator, TC_ESTIMATORS, f"{where}.tc_estimator")
    _one_of(t.metrics, METRIC_PRESETS, f"{where}.metrics")
    _one_of(t.device, ("auto", "cpu", "cuda"), f"{where}.device")
    _check(math.isfinite(t.beta) and t.beta > 0, f"{where}.beta: must be > 0, got {t.beta}; use e.g. 4")
    _check(math.isfinite(t.gaussian_variance) and t.gaussian_variance > 0,
           f"{where}.gaussian_variance: must be a finite number > 0, got {t.gaussian_variance}; "
           f"use e.g. 0.5 (the summed squared error)")
    _check(t.alpha >= 0 and t.gamma >= 0, f"{where}.alpha/gamma: must be >= 0")
    _check(t.latent_dim >= 1, f"{where}.latent_dim: must be >= 1, got {t.latent_dim}")
    _check(t.batch_size >= 2, f"{where}.batch_size: must be >= 2 (β-TCVAE needs pairs), got {t.batch_size}")
    _check(math.isfinite(t.lr) and t.lr > 0, f"{where}.lr: must be > 0, got {t.lr}; use e.g. 1e-4")
    _check(t.steps >= 1, f"{where}.steps: must be >= 1, got {t.steps}")
    _check(0 <= t.kl_warmup_steps < t.steps or t.kl_warmup_steps == 0,
           f"{where}.kl_warmup_steps: must be >= 0 and below steps ({t.steps}), got {t.kl_warmup_steps}")
    _check(t.report_every >= 1, f"{where}.report_every: must be >= 1, got {t.report_every}")
    _check(t.checkpoint_every >= 1, f"{where}.checkpoint_every: must be >= 1, got {t.checkpoint_every}")
    _check(t.val_size >= 1, f"{where}.val_size: must be >= 1, got {t.val_size}")
    _check(t.eval_size >= 16, f"{where}.eval_size: must be >= 16, got {t.eval_size}")
    _check(t.gpus >= 0, f"{where}.gpus: must be >= 0, got {t.gpus}")
    _check(t.num_threads >= 0, f"{where}.num_threads: must be >= 0 (0 = torch default)")
    if t.dataset in FOLDER_DATASETS:
        _check(
            bool(t.data_root),
            f"{where}.data_root: dataset {t.dataset!r} is read from a local folder; "
            f"set data_root (--data-root DIR) to the folder holding its files",
        )
        _check(
            os.path.isdir(t.data_root or ""),
            f"{where}.data_root: folder {t.data_root!r} does not exist; "
            f"point data_root at the folder holding the {t.dataset} files",
        )


def validate(config: StudyConfig) -> StudyConfig:
    """Validate a whole study config (and return it). The one place where configs are checked."""
    _check(bool(config.name) and "/" not in config.name and config.name.strip() == config.name,
           f"name: {config.name!r} is not a usable study name; use letters, digits, - and _")
    _check(bool(config.root), "root: must be a folder path, e.g. betasweep-runs")
    validate_trial(config.trial, "trial")
    space, search, res = config.space, config.search, config.resources
    _one_of(space.mode, SEARCH_MODES, "space.mode")
    _check(len(space.model_types) > 0, "space.model_types: list at least one model type, e.g. [vae, beta_vae]")
    for name in space.model_types:
        _one_of(name, MODEL_TYPES, "space.model_types")
    _check(space.beta_min > 0, f"space.beta_min: must be > 0, got {space.beta_min}; use e.g. 1")
    _check(space.beta_max >= space.beta_min,
           f"space.beta_max: must be >= space.beta_min ({space.beta_min}), got {space.beta_max}")
    _check(len(space.latent_dims) > 0, "space.latent_dims: list at least one latent size, e.g. [10]")
    for dim in space.latent_dims:
        _check(dim >= 1, f"space.latent_dims: every latent size must be >= 1, got {dim}")
    if (space.lr_min is None) != (space.lr_max is None):
        raise ConfigError("space.lr_min/lr_max: set both to search the learning rate, or neither")
    if space.lr_min is not None:
        _check(0 < space.lr_min <= space.lr_max, "space.lr_min: need 0 < lr_min <= lr_max")
    _check(space.seeds_per_config >= 1, f"space.seeds_per_config: must be >= 1, got {space.seeds_per_config}")
    if space.mode == "grid":
        _check(len(space.grid) > 0, "space.grid: grid mode needs at least one configuration; "
                                    "list them, e.g. [{model_type: vae}, {model_type: beta_vae, beta: 5}]")
        for i, entry in enumerate(space.grid):
            _check_grid_entry(entry, i)
            trial_from_dict(_merge(dataclasses.asdict(config.trial), entry))
    _check(search.num_trials >= 1, f"search.num_trials: must be >= 1, got {search.num_trials}")
    if space.mode == "search" and not space.seed_as_param:
        _check(search.num_trials % space.seeds_per_config == 0,
               f"search.num_trials: {search.num_trials} is not a multiple of space.seeds_per_config "
               f"({space.seeds_per_config}); use a multiple so every configuration gets all its seeds")
    _check(len(search.objectives) >= 1,
           "search.objectives: list at least one metric, e.g. [recon_error, beta_vae_score]")
    _check(len(set(search.objectives)) == len(search.objectives), "search.objectives: an objective is listed twice")
    for name in search.objectives:
        _check(name in METRIC_DIRECTIONS,
               f"search.objectives: no metric produces {name!r}; choose from {', '.join(METRIC_DIRECTIONS)}")
        _check_computed(config, name, "search.objectives")
    _one_of(search.sampler, SAMPLERS, "search.sampler")
    if search.asha:
        _check(search.asha_metric in INTERMEDIATE_METRICS,
               f"search.asha_metric: {search.asha_metric!r} is not reported during training; "
               f"use one of {', '.join(INTERMEDIATE_METRICS)}")
        _check_computed(config, search.asha_metric, "search.asha_metric")
        _check(search.asha_grace_steps >= config.trial.report_every,
               "search.asha_grace_steps: must be >= trial.report_every")
        _check(search.asha_reduction_factor >= 2, "search.asha_reduction_factor: must be >= 2")
        _check(space.seeds_per_config == 1 or space.seed_as_param,
               "search.asha: early stopping cannot be combined with repeated seeds per configuration "
               "(a stopped seed would leave its group incomplete); set space.seeds_per_config to 1 "
               "or space.seed_as_param to true")
    _check(res.cpus > 0, f"resources.cpus: must be > 0, got {res.cpus}")
    _check(res.gpus >= 0, f"resources.gpus: must be >= 0, got {res.gpus}")
    _check(res.gpus <= 1 or float(res.gpus).is_integer(),
           f"resources.gpus: {res.gpus} GPUs per trial: above 1 use whole GPUs (Ray cannot split across GPUs)")
    _check(res.max_concurrent >= 1, f"resources.max_concurrent: must be >= 1, got {res.max_concurrent}")
    _check(res.max_failures >= 0, f"resources.max_failures: must be >= 0, got {res.max_failures}")
    if config.trial.device == "cuda":
        _check(res.gpus > 0, "trial.device: cuda needs resources.gpus > 0 so Ray assigns a GPU to the trial")
    for key in config.secrets:
        _check(isinstance(key, str) and key, "secrets: list config key names, e.g. [data_root]")
    return config


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
            merged = _build(TrialConfig, _merge(dataclasses.asdict(trial), entry), "trial")
            where = {key: f"space.grid[{i}].{key}" if key in entry else f"trial.{key}"
                     for key in ("model_type", "dataset", "metrics")}
            where["entry"] = f"space.grid[{i}]"
            variants.append((merged, where))
        return variants
    where = {"model_type": "space.model_types", "dataset": "trial.dataset", "metrics": "trial.metrics"}
    return [(trial.with_updates(model_type=m), where) for m in config.space.model_types]


def _check_computed(config: StudyConfig, name: str, path: str) -> None:
    """Refuse metric ``name`` (at config field ``path``) if some trial of the study never computes
    it: every such trial would score NaN, be marked failed, and the study would end without a front.
    Derived from :data:`PRESET_METRICS`, :data:`FACTOR_METRICS`, :data:`PROBE_METRICS`,
    :data:`FACTOR_DATASETS`, :data:`PROBABILISTIC_METRICS` and :data:`DETERMINISTIC_MODELS`."""
    for t, where in _trial_variants(config):
        if name in FACTOR_METRICS and t.dataset not in FACTOR_DATASETS:
            raise ConfigError(
                f"{path}: {name!r} needs ground-truth factors, which dataset {t.dataset!r} "
                f"({where['dataset']}) lacks; use {' or '.join(PROBE_METRICS)} instead, or a dataset "
                f"with factors ({', '.join(FACTOR_DATASETS)})")
        if name in PROBE_METRICS and t.dataset in FACTOR_DATASETS:
            usable = [m for m in FACTOR_METRICS if m in PRESET_METRICS[t.metrics]] or list(FACTOR_METRICS)
            raise ConfigError(
                f"{path}: {name!r} is only computed for datasets without ground-truth factors "
                f"({', '.join(d for d in DATASETS if d not in FACTOR_DATASETS)}), not for "
                f"{where['dataset']}={t.dataset}; use a factor metric such as {', '.join(usable)}")
        if name not in PRESET_METRICS[t.metrics]:
            presets = [p for p, computed in PRESET_METRICS.items() if name in computed]
            raise ConfigError(
                f"{path}: {name!r} is not computed with {where['metrics']}={t.metrics}; "
                f"set {where['metrics']} to {' or '.join(presets)}, or drop {name} from {path}")
        if name in PROBABILISTIC_METRICS and t.model_type in DETERMINISTIC_MODELS:
            probabilistic = ", ".join(m for m in MODEL_TYPES if m not in DETERMINISTIC_MODELS)
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
    if not isinstance(entry, Mapping):
        raise ConfigError(f"space.grid[{index}]: each entry must be a mapping of trial fields")
    unknown = sorted(set(entry) - _GRID_KEYS)
    if unknown:
        raise ConfigError(f"space.grid[{index}].{unknown[0]}: unknown trial field; "
                          f"known: {', '.join(sorted(_GRID_KEYS))}")


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


def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of a config dataclass (the CLI help texts come from here)."""
    import ast
    import inspect
    import textwrap

    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body
    docs: dict[str, str] = {}
    for node, following in pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[node.target.id] = " ".join(following.value.value.split())
    return docs
