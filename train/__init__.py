"""The trainer: one trial (data, model, training, checkpoints, scores) without Ray, MLflow or Optuna.

``from train import trial_from_dict, train_and_evaluate`` is all a notebook needs; the study's Ray
trainable calls the same function. The names are imported on first use (PEP 562), so reading a
trial's config (:mod:`train.options`, :mod:`train.config`) imports no torch.
"""

from __future__ import annotations

import importlib

#: Public name → the module that declares it.
_HOMES = {
    "TrialConfig": "train.config",
    "trial_from_dict": "train.validation",
    "train_and_evaluate": "train.trial",
    "TrialResult": "train.trial",
    "Report": "train.steps",
    "ConfigError": "train.options",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
