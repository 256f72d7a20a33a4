"""Scoring: reconstruction, blur and the disentanglement metric suite (no Ray, no MLflow).

Metrics take numpy arrays (codes and factors, points in rows) or a code source
(:mod:`analysis.metrics.codes`: ``LiveCodes(data, represent)``, a pool, or the whole grid), and a
seeded numpy RNG; they return plain floats/dicts, stochastic scores with their standard error.
``score_model`` runs a preset's suite on one model. UDR compares the codes of several seeds of one
configuration (no factors needed), so it is a study-level score: :mod:`analysis.study_udr` runs it
on the codes each trial logs.
"""

from analysis.metrics.beta_vae import beta_vae_score
from analysis.metrics.blur import (
    COLLAPSE_VARIATION,
    blur_per_image,
    blur_score,
    blur_with_se,
    bootstrap_median_se,
    is_collapsed,
    output_variation,
    sharpness_per_image,
    sharpness_px,
    sharpness_with_se,
)
from analysis.metrics.codes import GridCodes, LiveCodes, PoolCodes
from analysis.metrics.dci import dci
from analysis.metrics.factor_vae import factor_vae_score
from analysis.metrics.irs import irs
from analysis.metrics.mig import mig, mig_with_se
from analysis.metrics.modularity import modularity, modularity_explicitness
from analysis.metrics.probe import linear_probe_accuracy, linear_probe_with_se
from analysis.metrics.reconstruction import reconstruction_scores
from analysis.metrics.sap import sap, sap_with_se
from analysis.metrics.scoring import PRESETS, MetricPreset, make_represent, score_model
from analysis.metrics.shape_error import shape_error, shape_error_per_image, shape_error_with_se
from analysis.metrics.spectrum import gaussian_blur
from analysis.metrics.udr import udr_pair, udr_pairwise, udr_scores

__all__ = ["beta_vae_score", "factor_vae_score", "mig", "dci", "sap", "linear_probe_accuracy",
           "blur_score", "blur_per_image", "blur_with_se", "sharpness_px", "sharpness_per_image",
           "sharpness_with_se", "bootstrap_median_se", "gaussian_blur", "shape_error", "shape_error_per_image",
           "shape_error_with_se", "output_variation", "is_collapsed", "COLLAPSE_VARIATION", "reconstruction_scores",
           "score_model", "PRESETS", "MetricPreset", "make_represent", "LiveCodes", "PoolCodes",
           "GridCodes", "mig_with_se", "sap_with_se", "linear_probe_with_se", "modularity",
           "modularity_explicitness", "irs", "udr_pair", "udr_pairwise", "udr_scores"]
