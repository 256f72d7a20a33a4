"""Scoring: reconstruction, blur and the disentanglement metric suite (no Ray, no MLflow).

Metrics take numpy arrays (codes and factors, points in rows) or a ground-truth ``data`` object
with a ``represent`` function, and a seeded numpy RNG; they return plain floats/dicts.
"""

from analysis.metrics.beta_vae import beta_vae_score
from analysis.metrics.dci import dci
from analysis.metrics.factor_vae import factor_vae_score
from analysis.metrics.mig import mig
from analysis.metrics.probe import linear_probe_accuracy
from analysis.metrics.reconstruction import blur_score, laplacian_energy, reconstruction_scores
from analysis.metrics.sap import sap
from analysis.metrics.scoring import PRESETS, MetricPreset, make_represent, score_model

__all__ = ["beta_vae_score", "factor_vae_score", "mig", "dci", "sap", "linear_probe_accuracy",
           "blur_score", "laplacian_energy", "reconstruction_scores", "score_model", "PRESETS",
           "MetricPreset", "make_represent"]
