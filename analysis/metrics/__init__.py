"""Scoring: reconstruction, blur and the disentanglement metric suite (no Ray, no MLflow).

Metrics take numpy arrays (codes and factors, points in rows) or a code source
(:mod:`analysis.metrics.codes`: ``LiveCodes(data, represent)``, a pool, or the whole grid), and a
seeded numpy RNG; they return plain floats/dicts, stochastic scores with their standard error.
``score_model`` runs a preset's suite on one model. UDR compares the codes of several seeds of one
configuration (no factors needed), so it is a study-level score: :mod:`analysis.study_udr` runs it
on the codes each trial logs.

The names below are imported on first use (PEP 562): the disentanglement metrics need
scikit-learn and scipy (~2 s to import), which a trial scoring only reconstruction and blur (the
``recon`` preset) never loads (tests/analysis/metrics/test_lazy_imports.py).
"""

from __future__ import annotations

import importlib
import sys
import types

#: public name → the module that defines it
_WHERE = {
    **dict.fromkeys(["COLLAPSE_VARIATION", "blur_per_image", "blur_score", "blur_with_se", "bootstrap_median_se",
                     "is_collapsed", "output_variation", "sharpness_per_image", "sharpness_px",
                     "sharpness_with_se"], "blur"),
    **dict.fromkeys(["GridCodes", "LiveCodes", "PoolCodes"], "codes"),
    "beta_vae_score": "beta_vae", "dci": "dci", "factor_vae_score": "factor_vae", "irs": "irs",
    "mig": "mig", "mig_with_se": "mig", "modularity": "modularity", "modularity_explicitness": "modularity",
    "linear_probe_accuracy": "probe", "linear_probe_with_se": "probe",
    "reconstruction_scores": "reconstruction", "sap": "sap", "sap_with_se": "sap",
    **dict.fromkeys(["PRESETS", "MetricPreset", "make_represent", "score_model"], "scoring"),
    **dict.fromkeys(["shape_error", "shape_error_per_image", "shape_error_with_se"], "shape_error"),
    "gaussian_blur": "spectrum",
    **dict.fromkeys(["udr_pair", "udr_pairwise", "udr_scores"], "udr"),
}

__all__ = ["beta_vae_score", "factor_vae_score", "mig", "dci", "sap", "linear_probe_accuracy",
           "blur_score", "blur_per_image", "blur_with_se", "sharpness_px", "sharpness_per_image",
           "sharpness_with_se", "bootstrap_median_se", "gaussian_blur", "shape_error", "shape_error_per_image",
           "shape_error_with_se", "output_variation", "is_collapsed", "COLLAPSE_VARIATION", "reconstruction_scores",
           "score_model", "PRESETS", "MetricPreset", "make_represent", "LiveCodes", "PoolCodes",
           "GridCodes", "mig_with_se", "sap_with_se", "linear_probe_with_se", "modularity",
           "modularity_explicitness", "irs", "udr_pair", "udr_pairwise", "udr_scores"]


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """Keeps a metric function where a submodule of the same name would land: importing
    ``analysis.metrics.dci`` sets the package's ``dci`` to the module, which must stay the function."""

    def __setattr__(self, name: str, value) -> None:
        if isinstance(value, types.ModuleType) and _WHERE.get(name) == name:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
