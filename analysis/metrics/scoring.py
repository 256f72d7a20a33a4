"""``score_model``: everything a trial reports about a trained model, as one flat dict.

Presets fix the sample sizes and where codes come from (:mod:`analysis.metrics.codes`):

* ``full`` — the literature's sample sizes (BetaVAE 10,000/5,000 points, FactorVAE 10,000/5,000,
  MIG 10,000, DCI 10,000/5,000, SAP 10,000/5,000), read from the *whole factor grid encoded once*
  (737,280 images for dSprites instead of the 2.9 M a live evaluation renders; exact, since the
  encoder mean is deterministic). Meant for GPUs; about five minutes of encoding on a 2-core CPU.
* ``fast`` — for CPU studies: a pool of 16,384 grid points encoded once, every metric's draws
  resampled from it; 1,000 evaluation points for BetaVAE and FactorVAE (binomial SE ≤ 0.016),
  MIG on 10,000 distinct pooled points, SAP on 1,000/1,000. DCI is left out: its per-factor gradient boosting alone
  takes ~20 s even on 500 points (benchmarks/README.md).
* ``recon`` — reconstruction and blur only.

Every stochastic score comes with its standard error as ``<metric>_se``
(:mod:`analysis.metrics.uncertainty`). The preset is part of the returned record
(``metric_preset``, and ``metric_codes`` = pool/grid/live) so a score is never compared with one
computed at another size by accident.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from analysis.metrics._common import seed_from
from analysis.metrics.codes import GridCodes, LiveCodes, PoolCodes, grid_size
from analysis.metrics.reconstruction import reconstruction_scores
from analysis.schema import ESTIMATE_PRESET, Tag
from models.modes import evaluating


@dataclass(frozen=True)
class MetricPreset:
    """Sample sizes of one scoring preset (0 disables the disentanglement metrics).

    ``codes`` says where the factor metrics read codes from (:mod:`analysis.metrics.codes`):
    ``pool`` — ``pool_size`` grid points encoded once, every metric's draws resampled from them;
    ``grid`` — every grid point encoded once (exact; used when the grid has at most
    ``grid_limit`` points, else a pool of ``pool_size``); ``live`` — render and encode every draw.
    ``encoding`` and ``encode_batch``: how the encoder runs (:func:`make_represent`).
    """

    name: str
    eval_size: int
    beta_vae_train: int = 0
    beta_vae_eval: int = 0
    factor_vae_train: int = 0
    factor_vae_eval: int = 0
    factor_vae_variance: int = 0
    mig_points: int = 0
    dci_train: int = 0
    dci_test: int = 0
    sap_train: int = 0
    sap_test: int = 0
    modularity_train: int = 0
    modularity_test: int = 0
    irs_points: int = 0
    probe_points: int = 0
    batch_size: int = 64
    codes: str = "live"
    pool_size: int = 0
    grid_limit: int = 2_000_000
    bootstrap: int = 100
    encoding: str = "fp32"
    encode_batch: int = 1024

    @property
    def disentanglement(self) -> bool:
        return self.beta_vae_train > 0


PRESETS = {
    "full": MetricPreset("full", eval_size=10000, beta_vae_train=10000, beta_vae_eval=5000,
                         factor_vae_train=10000, factor_vae_eval=5000, factor_vae_variance=10000,
                         mig_points=10000, dci_train=10000, dci_test=5000, sap_train=10000,
                         sap_test=5000, modularity_train=10000, modularity_test=5000, irs_points=10000,
                         probe_points=10000, codes="grid", pool_size=100_000, encoding="fp32-cl",
                         encode_batch=4096),
    "fast": MetricPreset("fast", eval_size=1024, beta_vae_train=1000, beta_vae_eval=1000,
                         factor_vae_train=1000, factor_vae_eval=1000, factor_vae_variance=5000,
                         mig_points=10000, sap_train=1000, sap_test=1000, modularity_train=2000,
                         modularity_test=1000, irs_points=5000, probe_points=2000,
                         codes="pool", pool_size=16384),
    "recon": MetricPreset("recon", eval_size=1024),
    # A cheap estimate of every fast-preset score for early stopping at a rung (MO-ASHA): small
    # samples from a small pool, few bootstrap resamples. Not a trial's final scores.
    ESTIMATE_PRESET: MetricPreset(ESTIMATE_PRESET, eval_size=256, beta_vae_train=300, beta_vae_eval=300,
                             factor_vae_train=300, factor_vae_eval=300, factor_vae_variance=2000,
                             mig_points=2048, sap_train=300, sap_test=300, modularity_train=500,
                             modularity_test=300, irs_points=1000, probe_points=512, codes="pool",
                             pool_size=2048, bootstrap=20),
}

#: How ``make_represent`` runs the encoder: the model as it is; channels_last (the same products
#: summed in another order: codes within ~1e-6); bf16 autocast + channels_last (codes within ~1e-2).
ENCODINGS = ("fp32", "fp32-cl", "bf16-cl")


def make_represent(model, batch_size: int = 1024, encoding: str = "fp32"):
    """``represent(observations) -> np.ndarray``: the encoder mean, in batches, on the model's
    device, run as ``encoding`` says (:data:`ENCODINGS`; the model itself is left as it is)."""
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding: {encoding!r} is not one of {', '.join(ENCODINGS)}")
    device = next(model.parameters()).device
    channels_last = encoding != "fp32"
    if channels_last:
        model = copy.deepcopy(model).to(memory_format=torch.channels_last)

    @torch.inference_mode()
    def represent(observations: torch.Tensor) -> np.ndarray:
        out = []
        for start in range(0, len(observations), batch_size):
            x = observations[start:start + batch_size].to(device)
            if channels_last and x.ndim == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=encoding.startswith("bf16")):
                mu, _ = model.encode(x)
            out.append(mu.float().cpu().numpy())
        return np.concatenate(out)

    return represent


def score_model(model, data, rng, which: str = "fast", eval_images: torch.Tensor | None = None,
                eval_labels=None, n_jobs: int | None = None) -> dict:
    """Score a trained model: reconstruction, blur and (with factors) the disentanglement suite.

    Returns stable names: the reconstruction scores of
    :func:`analysis.metrics.reconstruction.reconstruction_scores`; for ground-truth data
    beta_vae_score, beta_vae_train_accuracy, factor_vae_score, factor_vae_active_dims, mig, sap,
    and with the full preset dci_disentanglement, dci_completeness, dci_informativeness (test),
    dci_informativeness_train — each stochastic one with ``<name>_se`` — and metric_codes; for
    data without factors linear_probe_accuracy (with its SE); always metric_preset.

    ``n_jobs``: independent fits run at once (DCI's per-factor trees); default the torch thread
    count, i.e. the trial's CPU budget. The scores do not depend on it.
    """
    if which not in PRESETS:
        raise ValueError(f"metrics: unknown preset {which!r}; choose one of {', '.join(PRESETS)}")
    preset = PRESETS[which]
    if eval_images is None:
        eval_images, eval_labels = data.eval_set(preset.eval_size, seed=0)
    with evaluating(model):
        gen = torch.Generator(device=next(model.parameters()).device)
        gen.manual_seed(seed_from(rng))
        scores: dict = reconstruction_scores(model, eval_images, generator=gen)
        scores[Tag.METRIC_PRESET] = preset.name
        if not preset.disentanglement:
            return scores
        represent = make_represent(model, preset.encode_batch, preset.encoding)
        if getattr(data, "has_factors", False):
            n_jobs = torch.get_num_threads() if n_jobs is None else n_jobs
            scores.update(_factor_metrics(data, represent, rng, preset, n_jobs))
        elif eval_labels is not None:
            scores.update(_probe(data, represent, rng, preset))
        return scores


def code_source(data, represent, rng, p: MetricPreset):
    """The preset's code source for ``data``: pool, whole grid, or live rendering."""
    if p.codes == "grid" and grid_size(data) <= p.grid_limit:
        return GridCodes(data, represent)
    if p.codes in ("grid", "pool"):
        return PoolCodes(data, represent, p.pool_size, rng)
    return LiveCodes(data, represent)


def _split(codes, num_train: int, num_test: int, rng):
    """Train and test points from one draw, so a pool never puts a point in both."""
    factors, c = codes.sample(num_train + num_test, rng)
    return (factors[:num_train], c[:num_train]), (factors[num_train:], c[num_train:])


def _factor_metrics(data, represent, rng, p: MetricPreset, n_jobs: int = 1) -> dict:
    """The factor metrics in a fixed order on one stream. DCI's fits (the slow part) start in
    ``n_jobs`` workers and the later metrics run meanwhile (:func:`analysis.metrics.dci.dci_start`);
    the scores are those of running everything one after another."""
    # scikit-learn and scipy only here: the recon preset never imports them (test_lazy_imports.py)
    from analysis.metrics.beta_vae import beta_vae_score
    from analysis.metrics.dci import dci_start
    from analysis.metrics.factor_vae import factor_vae_score
    from analysis.metrics.mig import mig_with_se
    from analysis.metrics.sap import sap_with_se

    codes = code_source(data, represent, rng, p)
    out = {Tag.METRIC_CODES: codes.kind}
    b = beta_vae_score(codes, rng, p.batch_size, p.beta_vae_train, p.beta_vae_eval)
    out["beta_vae_score"], out["beta_vae_score_se"] = b["eval_accuracy"], b["eval_accuracy_se"]
    out["beta_vae_train_accuracy"] = b["train_accuracy"]
    f = factor_vae_score(codes, rng, p.batch_size, p.factor_vae_train, p.factor_vae_eval, p.factor_vae_variance)
    out["factor_vae_score"], out["factor_vae_score_se"] = f["eval_accuracy"], f["eval_accuracy_se"]
    out["factor_vae_active_dims"] = float(f["num_active_dims"])
    factors, c = codes.sample(p.mig_points, rng)
    out["mig"], out["mig_se"] = mig_with_se(c, factors, rng, num_resamples=p.bootstrap)
    dci_scores = None
    if p.dci_train > 0:
        (train_f, train_c), (test_f, test_c) = _split(codes, p.dci_train, p.dci_test, rng)
        dci_scores = dci_start(train_c, train_f, test_c, test_f, random_state=seed_from(rng), rng=rng, n_jobs=n_jobs)
    (train_f, train_c), (test_f, test_c) = _split(codes, p.sap_train, p.sap_test, rng)
    out["sap"], out["sap_se"] = sap_with_se(train_c, train_f, test_c, test_f, rng, p.bootstrap)
    out.update(_modularity_and_irs(codes, rng, p))
    if dci_scores is not None:
        d = dci_scores()
        out["dci_disentanglement"], out["dci_completeness"] = d["disentanglement"], d["completeness"]
        out["dci_informativeness"] = d["informativeness_test"]
        out["dci_informativeness_se"] = d["informativeness_test_se"]
        out["dci_informativeness_train"] = d["informativeness_train"]
    return out


def _modularity_and_irs(codes, rng, p: MetricPreset) -> dict:
    """Modularity and explicitness (Ridgeway & Mozer 2018) and IRS (Suter et al. 2019)."""
    from analysis.metrics.irs import irs
    from analysis.metrics.modularity import modularity_explicitness

    (train_f, train_c), (test_f, test_c) = _split(codes, p.modularity_train, p.modularity_test, rng)
    m = modularity_explicitness(train_c, train_f, test_c, test_f, rng=rng, num_resamples=p.bootstrap)
    factors, c = codes.sample(p.irs_points, rng)
    r = irs(c, factors, rng=rng, num_resamples=p.bootstrap)
    return {"modularity": m["modularity"], "modularity_se": m["modularity_se"],
            "explicitness": m["explicitness_test"], "explicitness_se": m["explicitness_test_se"],
            "explicitness_train": m["explicitness_train"], "irs": r["irs"], "irs_se": r["irs_se"],
            "irs_active_dims": float(r["num_active_dims"])}


def _probe(data, represent, rng, p: MetricPreset) -> dict:
    from analysis.metrics.probe import linear_probe_with_se

    images, labels = data.eval_set(p.probe_points, seed=1)
    codes = represent(images)
    half = len(codes) // 2
    labels = np.asarray(labels)
    acc, se = linear_probe_with_se(codes[:half], labels[:half], codes[half:], labels[half:], rng, p.bootstrap)
    return {"linear_probe_accuracy": acc, "linear_probe_accuracy_se": se}
