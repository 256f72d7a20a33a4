"""The config sections: typed, frozen dataclasses with one docstring per field.

A study is one :class:`StudyConfig` holding the trainer's :class:`train.config.TrialConfig` as its
template, a :class:`SpaceConfig`, a :class:`SearchConfig` and a :class:`ResourcesConfig`. The field
docstrings are the CLI help texts (:func:`train.config.field_docs`) and the docs of the YAML keys.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from study.config.options import METRIC_DIRECTIONS, SEED_MODEL_TYPES
from train.config import TrialConfig


@dataclass(frozen=True)
class SpaceConfig:
    """The search space: what Optuna chooses per trial (or the fixed grid)."""

    mode: str = "search"
    """search (Optuna suggests configurations), grid (exactly the listed configurations) or
    paper_grid (each model type × each value of its declared paper grid × each latent size)."""
    model_types: tuple[str, ...] = SEED_MODEL_TYPES
    """Model types to search over (search and paper_grid modes)."""
    ranges: Mapping[str, Mapping[str, tuple[float, float]]] = field(default_factory=dict)
    """Search ranges replacing a model type's declared ones, by type and hyperparameter, e.g.
    {beta_vae: {beta: [1, 32]}}; each hyperparameter is its own Optuna parameter (beta_vae.beta)."""
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

    def range_of(self, model_type: str, hp) -> tuple[float, float]:
        """The search range of ``model_type``'s hyperparameter ``hp``: configured, else declared."""
        low, high = self.ranges.get(model_type, {}).get(hp.name, (hp.low, hp.high))
        return float(low), float(high)

    def configurations(self) -> tuple[Mapping[str, Any], ...]:
        """The fixed configurations of grid mode (``grid``) or paper-grid mode: each of
        ``model_types`` with each combination of its declared hyperparameters' paper grids
        (Locatello et al. 2019: six values of one knob per type) and each of ``latent_dims``."""
        if self.mode == "grid":
            return tuple(self.grid)
        from train.model_types import model_classes

        entries = []
        classes = model_classes()
        for model_type in self.model_types:
            hps = classes[model_type].hyperparameters
            for values in itertools.product(*(hp.grid for hp in hps)):
                for dim in self.latent_dims:
                    entry = {"model_type": model_type, **{hp.name: v for hp, v in zip(hps, values, strict=True)}}
                    entries.append({**entry, "latent_dim": dim} if len(self.latent_dims) > 1 else entry)
        return tuple(entries)


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
    constant_liar: bool = True
    """TPE: treat the configurations still training as if they had scored badly (Optuna's constant
    liar), so trials suggested while others are in flight do not repeat them."""
    history_limit: int = 1000
    """TPE: finished trials the sampler looks at, at most (the best half by Pareto rank, then the
    most recent; :mod:`study.sampler_history`); 0 = all. Bounds a suggestion's cost in a long study
    (benchmarks/notes/2026-11-27-scale.md); up to the limit nothing changes."""
    asha: bool = False
    """Stop unpromising trials early (they are told to Optuna as PRUNED): with one objective ASHA on
    asha_metric; with several, multi-objective ASHA (Schmucker et al. 2021) on a cheap estimate of
    every objective that trials report at its rungs (grace · reduction_factor^k steps)."""
    asha_metric: str = "val_recon_error"
    """Single metric ASHA compares while training, with one objective (must be reported during
    training); not used with several objectives."""
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
    tracking_start_wait: float = 30.0
    """Seconds the driver waits at the start for an MLflow server that does not answer (e.g. one
    still starting) before refusing the study, naming the URI."""

    @property
    def study_dir(self) -> str:
        """Absolute folder of this study's Optuna storage, Ray results and tracking buffer."""
        return os.path.join(os.path.abspath(self.root), self.name)

    def objective_directions(self) -> dict[str, str]:
        """Objective name → "min" | "max", in the configured order."""
        return {name: METRIC_DIRECTIONS[name] for name in self.search.objectives}

    def num_trials(self) -> int:
        """Total trials the study runs."""
        if self.space.mode == "search":
            return self.search.num_trials
        return len(self.space.configurations()) * self.space.seeds_per_config

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (tuples as lists), the YAML form."""
        return _plain(dataclasses.asdict(self))


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
