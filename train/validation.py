"""A trial config's validation: every error names the field and the fix, raised before any
training (or, in a study, any Ray or MLflow work) starts."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

from analysis.schema import METRIC_PRESETS
from train import options
from train.coercion import apply_overrides
from train.config import TrialConfig
from train.model_types import architectures, check_model_params, check_model_type
from train.options import Amp, ConfigError


def check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def one_of(value: Any, allowed: tuple, path: str) -> None:
    check(value in allowed, f"{path}: unknown value {value!r}; choose one of {', '.join(map(str, allowed))}")


def validate_trial(t: TrialConfig, where: str = "trial") -> None:
    """Check one trial config; raises :class:`ConfigError` naming the field and the fix."""
    check_model_type(t.model_type, f"{where}.model_type")
    check_model_params(t.model_params, where)
    one_of(t.architecture, architectures(), f"{where}.architecture")
    one_of(t.dataset, options.DATASETS, f"{where}.dataset")
    if t.likelihood is not None:
        one_of(t.likelihood, options.LIKELIHOODS, f"{where}.likelihood")
    one_of(t.metrics, tuple(METRIC_PRESETS), f"{where}.metrics")
    one_of(t.device, ("auto", "cpu", "cuda"), f"{where}.device")
    one_of(t.amp, tuple(Amp), f"{where}.amp")
    check(math.isfinite(t.gaussian_variance) and t.gaussian_variance > 0,
          f"{where}.gaussian_variance: must be a finite number > 0, got {t.gaussian_variance}; "
          f"use e.g. 0.5 (the summed squared error)")
    check(t.latent_dim >= 1, f"{where}.latent_dim: must be >= 1, got {t.latent_dim}")
    check(t.batch_size >= 2, f"{where}.batch_size: must be >= 2 (β-TCVAE needs pairs), got {t.batch_size}")
    check(math.isfinite(t.lr) and t.lr > 0, f"{where}.lr: must be > 0, got {t.lr}; use e.g. 1e-4")
    check(t.steps >= 1, f"{where}.steps: must be >= 1, got {t.steps}")
    check(0 <= t.kl_warmup_steps < t.steps or t.kl_warmup_steps == 0,
          f"{where}.kl_warmup_steps: must be >= 0 and below steps ({t.steps}), got {t.kl_warmup_steps}")
    check(t.report_every >= 1, f"{where}.report_every: must be >= 1, got {t.report_every}")
    check(t.checkpoint_every >= 1, f"{where}.checkpoint_every: must be >= 1, got {t.checkpoint_every}")
    check(t.val_size >= 1, f"{where}.val_size: must be >= 1, got {t.val_size}")
    check(t.eval_size >= 16, f"{where}.eval_size: must be >= 16, got {t.eval_size}")
    check(t.gpus >= 0, f"{where}.gpus: must be >= 0, got {t.gpus}")
    check(t.num_threads >= 0, f"{where}.num_threads: must be >= 0 (0 = torch default)")
    for step in t.estimate_at:
        check(0 < step <= t.steps and step % t.report_every == 0,
              f"{where}.estimate_at: {step} is not a report step in (0, {t.steps}]; use multiples of "
              f"report_every ({t.report_every})")
    if t.dataset in options.FOLDER_DATASETS:
        check(
            bool(t.data_root),
            f"{where}.data_root: dataset {t.dataset!r} is read from a local folder; "
            f"set data_root (--data-root DIR) to the folder holding its files",
        )
    if t.dataset in options.FOLDER_DATASETS or (t.dataset in options.OFFICIAL_WITH_DATA_ROOT and t.data_root):
        check(
            os.path.isdir(t.data_root or ""),
            f"{where}.data_root: folder {t.data_root!r} does not exist; "
            f"point data_root at the folder holding the {t.dataset} files"
            + (" (or unset it for the procedural look-alike)" if t.dataset in options.OFFICIAL_WITH_DATA_ROOT else ""),
        )


def trial_from_dict(data: Mapping[str, Any]) -> TrialConfig:
    """Build and validate a trial config from a plain mapping: trial fields, and (like a grid entry)
    settings of its model type by their own names, e.g. ``{model_type: beta_vae, beta: 4}``."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"trial: expected a mapping of fields, got {type(data).__name__}")
    config = apply_overrides(TrialConfig(), data, "trial")
    validate_trial(config, "trial")
    return config
