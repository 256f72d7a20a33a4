"""The config sections: typed, frozen dataclasses with one docstring per field.

A study is one :class:`StudyConfig` holding a :class:`TrialConfig` template, a :class:`SpaceConfig`,
a :class:`SearchConfig` and a :class:`ResourcesConfig`. The field docstrings are the CLI help texts
(:func:`field_docs`) and the documentation of the YAML keys.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from itertools import pairwise
from typing import Any

from study.config.options import METRIC_DIRECTIONS, SEED_MODEL_TYPES, Amp


@dataclass(frozen=True)
class TrialConfig:
    """One training run: data, model, optimiser, budget and scoring."""

    model_type: str = "beta_vae"
    """Model type: a registered one (python -m study.run --list-models), e.g. ae, vae, beta_vae,
    beta_tcvae, annealed_vae, factor_vae, dip_vae_i, dip_vae_ii."""
    model_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Settings of model types, by type, e.g. {beta_vae: {beta: 4}, beta_tcvae: {tc_estimator: mws}}:
    a trial uses its own type's entry; what is unset takes the type's declared default. Each type
    declares its hyperparameters (models.hyperparameters); grid entries and the searcher may also
    name them directly, e.g. {model_type: beta_vae, beta: 4}."""
    latent_dim: int = 10
    """Number of latent dimensions D."""
    seed: int = 0
    """Seed of the parameter init, the minibatch stream and the metrics."""
    architecture: str = "burgess"
    """Encoder/decoder pair (models.networks.ARCHITECTURES): burgess (Burgess et al. 2018),
    disentanglement_lib (its conv_encoder/deconv_decoder, Locatello et al. 2019's network) or
    seed_report."""
    dataset: str = "dsprites"
    """Dataset: dsprites, color-dsprites, noisy-dsprites, textured-dsprites (procedural, recorded as
    <name>-procedural), or from official files under data_root: dsprites, scream-dsprites, smallnorb,
    cars3d, shapes3d, mpi3d-toy, mpi3d-realistic, mpi3d-real (with factors), mnist, celeba."""
    data_root: str | None = None
    """Folder holding the official files (each dataset looks in its own subfolder, e.g.
    dsprites/, small_norb/, cars/, scream/). With dsprites it selects the official .npz (recorded
    dsprites; an error if absent) over the procedural look-alike; ignored by the other variants."""
    likelihood: str | None = None
    """Reconstruction likelihood: bernoulli or gaussian; null = the dataset's default."""
    gaussian_variance: float = 0.5
    """σ² of the Gaussian likelihood N(x̂, σ²I) (ignored by bernoulli); 0.5 makes the NLL the summed
    squared error. It sets the effective β (β at σ² acts like β·2σ² at σ² = 1/2) and recon_error
    scales with 1/σ²: compare trials of one σ² only (docs/measurements.md)."""
    kl_warmup_steps: int = 0
    """Warm-up length in steps (0 = off; ignored by ae): the whole regulariser and the posterior
    noise (z = μ + s·σ·ε) are scaled by s = step / kl_warmup_steps, so a VAE leaves dSprites'
    mean-image plateau early (benchmarks/notes/2026-11-26-warm-up-and-the-plateau.md)."""
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
    """Disentanglement scoring preset: fast (small samples, CPU studies), full (paper sizes), recon
    (reconstruction and blur only) or estimate (fast's scores on very small samples, a few seconds)."""
    device: str = "auto"
    """Device: auto (the GPU Ray assigned, else CPU), cpu or cuda."""
    gpus: float = 0.0
    """GPUs this trial holds (set from the study's resources; 0 means never touch a GPU)."""
    num_threads: int = 0
    """torch intra-op threads (0 = leave torch's default)."""
    flush_denormal: bool = True
    """Flush denormal floats to zero on the CPU, before the intra-op threads start: trained models'
    tiny gradients and moments are slow on many x86 cores, and the scores do not change
    (benchmarks/notes/2026-11-27-trained-weights-and-denormals.md). false only to measure that."""
    amp: Amp = Amp.AUTO
    """bf16 autocast of the networks (the loss's delicate terms stay fp32): auto = bf16 on native-bf16
    hardware for model types whose bf16 science table agreed with fp32 (none yet), else fp32;
    true = always (~2× faster on native bf16); false = fp32. Recorded as the run's tag precision."""
    channels_last: bool = True
    """Convolution weights in channels-last (NHWC) memory format on the CPU, where oneDNN runs them
    faster (benchmarks/notes/2026-12-06-channels-last.md); ignored on CUDA. Same arithmetic."""
    compile: bool = False
    """torch.compile the model on CUDA (ignored with a logged note on CPU)."""
    estimate_at: tuple[int, ...] = ()
    """Steps at which the trial also reports a cheap estimate of its scores (estimate/<metric>, the
    estimate metric preset on the validation images): set by the study to its early-stopping rungs."""

    def with_updates(self, **changes: Any) -> TrialConfig:
        """A copy with some fields changed (then re-validated by the caller)."""
        return dataclasses.replace(self, **changes)

    def own_params(self) -> dict[str, Any]:
        """This trial's model settings: the ``model_params`` entry of its own model type."""
        return dict(self.model_params.get(self.model_type, {}))


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
        from study.space import configurations

        return len(configurations(self.space)) * self.space.seeds_per_config

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
