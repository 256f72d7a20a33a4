"""``score_model``'s output pinned on seeded inputs: moving the suite onto the scorer registry (or
adding a scorer after the others) must leave every earlier score, to the last bit, where it was —
same values on the same stream. Values recorded before the registry (commit 56d2ce1)."""

import math

import numpy as np
import torch

from analysis.metrics import scoring
from analysis.metrics.scoring import MetricPreset, _factor_metrics
from tests.analysis.metrics.test_disentanglement import DATA, with_noise_dims
from tests.analysis.metrics.test_reconstruction import TinyModel

NAN = math.nan

FAST = {
    "recon_error": 2870.8352994918823, "recon_error_se": 0.1656758218199368,
    "recon_error_sampled": 2870.8352994918823, "recon_mse": 0.2537771090865135,
    "output_variation": 0.006054244829714364, "collapsed": 1.0, "blur": NAN, "blur_se": NAN,
    "shape_error": NAN, "shape_error_se": NAN, "blur_samples": -0.4774085499593639,
    "blur_samples_se": 0.00019024406008382607, "data_sharpness": -0.057342645810422255,
    "metric_preset": "fast", "metric_codes": "pool", "beta_vae_score": 0.262,
    "beta_vae_score_se": 0.013905250806799567, "beta_vae_train_accuracy": 0.268, "factor_vae_score": 0.256,
    "factor_vae_score_se": 0.013800869537822608, "factor_vae_active_dims": 4.0, "mig": 0.010549845793918221,
    "mig_se": 0.001004809676769249, "sap": 0.017000000000000008, "sap_se": 0.004384022413862928,
    "modularity": 0.7503962087447682, "modularity_se": 0.016936807495717944,
    "explicitness": 0.6218214915455516, "explicitness_se": 0.004107055532043475,
    "explicitness_train": 0.6503577449269713, "irs": 0.4789984547254669, "irs_se": 0.01892661861101692,
    "irs_active_dims": 4.0,
}

SMALL_FULL = {
    "metric_codes": "grid", "beta_vae_score": 1.0, "beta_vae_score_se": 0.0, "beta_vae_train_accuracy": 1.0,
    "factor_vae_score": 1.0, "factor_vae_score_se": 0.0, "factor_vae_active_dims": 6.0,
    "mig": 0.8203455223678926, "mig_se": 0.008715800395140695, "sap": 0.15333333333333332,
    "sap_se": 0.035377661700124005, "modularity": 0.8551391150678039, "modularity_se": 0.014207732558021921,
    "explicitness": 0.8921662526164716, "explicitness_se": 0.009467447195249184,
    "explicitness_train": 0.9323597780530214, "irs": 0.7204853632313034, "irs_se": 0.007518971839954578,
    "irs_active_dims": 6.0, "dci_disentanglement": 0.9999999995206907,
    "dci_completeness": 0.9999999992652795, "dci_informativeness": 1.0, "dci_informativeness_se": 0.0,
    "dci_informativeness_train": 1.0,
}

#: The full preset's suite (DCI included) at small sizes, codes from the whole (small) grid.
SMALL = MetricPreset("small", eval_size=64, codes="grid", bootstrap=20, sizes={
    "beta_vae": dict(num_train=200, num_eval=100), "factor_vae": dict(num_train=200, num_eval=100, num_variance=500),
    "mig": dict(num_points=500), "dci": dict(num_train=300, num_test=150), "sap": dict(num_train=200, num_test=100),
    "modularity": dict(num_train=300, num_test=150), "irs": dict(num_points=500)})


def same(got: dict, pinned: dict) -> list[str]:
    """Names whose value differs from the pinned one (NaN equals NaN); a scorer added later may add names."""
    def equal(a, b):
        return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))

    return [k for k, v in pinned.items() if k not in got or not equal(got[k], v)]


def test_fast_preset_scores_are_pinned():
    torch.manual_seed(0)
    from train.data import dsprites

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        scores = scoring.score_model(TinyModel(), dsprites(), np.random.default_rng(0), "fast")
    finally:
        torch.set_num_threads(threads)
    assert same(scores, FAST) == []


def test_small_full_suite_is_pinned():
    scores = _factor_metrics(DATA, with_noise_dims, np.random.default_rng(11), SMALL, n_jobs=2)
    assert same(scores, SMALL_FULL) == []
