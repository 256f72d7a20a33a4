"""The allowed values of a trial's fields, and the error every config check raises.

Datasets and likelihoods are declared once, in :data:`train.data.DATASETS` and
``models.likelihoods.LIKELIHOODS`` (both import torch): the names below are read from them on first
use (PEP 562), so loading a config stays light."""

from __future__ import annotations

import functools
from enum import StrEnum

_LAZY = ("LIKELIHOODS", "DATASETS", "DSPRITES_FAMILY", "FACTOR_FILE_DATASETS", "FOLDER_DATASETS",
         "FACTOR_DATASETS", "PROCEDURAL_DATASETS", "OFFICIAL_WITH_DATA_ROOT", "DATASET_RECORD_NAMES")


class ConfigError(ValueError):
    """A configuration value is invalid. The message names the field and how to fix it."""


class Amp(StrEnum):
    """``trial.amp``: bf16 autocast where it pays (auto), always (true) or never (false)."""

    AUTO = "auto"
    ON = "true"
    OFF = "false"


@functools.cache
def _declared() -> dict:
    """The lazy names, read from the data package and the likelihood registry."""
    from models.likelihoods import LIKELIHOODS
    from train.data import DATASETS

    entries = DATASETS.values()
    return {
        "LIKELIHOODS": tuple(LIKELIHOODS),
        #: Every dataset name (the keys of ``train.data.DATASETS``).
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
