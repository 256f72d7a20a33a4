"""``score_model``: everything a trial reports about a trained model, as one flat dict.

Presets fix the sample sizes: ``full`` uses the literature's defaults (DESIGN §5; meant for GPUs
— BetaVAE alone encodes 1.9 M images), ``fast`` uses small samples so short CPU studies can score
every trial in about ten seconds on a CPU (noisier numbers, same definitions; DCI is left out
because its 100-tree gradient boosting per factor alone takes ~20 s even on 500 points — measured
in benchmarks/README.md), ``recon`` scores reconstruction and blur only. The preset is part of the returned record (``metric_preset``) so a score is never
compared with one computed at another size by accident.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from analysis.metrics.beta_vae import beta_vae_score
from analysis.metrics.dci import dci
from analysis.metrics.factor_vae import factor_vae_score
from analysis.metrics.mig import mig
from analysis.metrics.probe import linear_probe_accuracy
from analysis.metrics.reconstruction import reconstruction_scores
from analysis.metrics.sap import sap
from analysis.metrics._common import represent_in_chunks, seed_from


@dataclass(frozen=True)
class MetricPreset:
    """Sample sizes of one scoring preset (0 disables the disentanglement metrics)."""

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
    probe_points: int = 0
    batch_size: int = 64

    @property
    def disentanglement(self) -> bool:
        return self.beta_vae_train > 0


PRESETS = {
    "full": MetricPreset("full", eval_size=10000, beta_vae_train=10000, beta_vae_eval=5000,
                         factor_vae_train=10000, factor_vae_eval=5000, factor_vae_variance=10000,
                         mig_points=10000, dci_train=10000, dci_test=5000, sap_train=10000,
                         sap_test=5000, probe_points=10000),
    "fast": MetricPreset("fast", eval_size=1024, beta_vae_train=100, beta_vae_eval=50,
                         factor_vae_train=100, factor_vae_eval=50, factor_vae_variance=1000,
                         mig_points=2000, dci_train=0, dci_test=0, sap_train=500, sap_test=250,
                         probe_points=2000),
    "recon": MetricPreset("recon", eval_size=1024),
}


def make_represent(model, batch_size: int = 1024):
    """``represent(observations) -> np.ndarray``: the encoder mean, in batches, on the model's device."""
    device = next(model.parameters()).device

    @torch.no_grad()
    def represent(observations: torch.Tensor) -> np.ndarray:
        out = []
        for start in range(0, len(observations), batch_size):
            mu, _ = model.encode(observations[start:start + batch_size].to(device))
            out.append(mu.float().cpu().numpy())
        return np.concatenate(out)

    return represent


def score_model(model, data, rng, which: str = "fast", eval_images: torch.Tensor | None = None,
                eval_labels=None) -> dict:
    """Score a trained model: reconstruction, blur and (with factors) the disentanglement suite.

    Returns stable names: recon_error, recon_mse, blur, blur_samples, and for ground-truth data
    beta_vae_score, beta_vae_train_accuracy, factor_vae_score, factor_vae_active_dims, mig,
    dci_disentanglement, dci_completeness, dci_informativeness (test), dci_informativeness_train
    (full preset only), sap; for data without factors linear_probe_accuracy; always metric_preset.
    """
    if which not in PRESETS:
        raise ValueError(f"metrics: unknown preset {which!r}; choose one of {', '.join(PRESETS)}")
    preset = PRESETS[which]
    if eval_images is None:
        eval_images, eval_labels = data.eval_set(preset.eval_size, seed=0)
    was_training = model.training
    model.eval()
    try:
        gen = torch.Generator(device=next(model.parameters()).device)
        gen.manual_seed(seed_from(rng))
        scores: dict = reconstruction_scores(model, eval_images, generator=gen)
        scores["metric_preset"] = preset.name
        if not preset.disentanglement:
            return scores
        represent = make_represent(model)
        if getattr(data, "has_factors", False):
            scores.update(_factor_metrics(data, represent, rng, preset))
        elif eval_labels is not None:
            scores.update(_probe(data, represent, preset))
        return scores
    finally:
        model.train(was_training)


def _factor_metrics(data, represent, rng, p: MetricPreset) -> dict:
    out = {}
    b = beta_vae_score(data, represent, rng, p.batch_size, p.beta_vae_train, p.beta_vae_eval)
    out["beta_vae_score"], out["beta_vae_train_accuracy"] = b["eval_accuracy"], b["train_accuracy"]
    f = factor_vae_score(data, represent, rng, p.batch_size, p.factor_vae_train, p.factor_vae_eval,
                         p.factor_vae_variance)
    out["factor_vae_score"], out["factor_vae_active_dims"] = f["eval_accuracy"], float(f["num_active_dims"])
    factors = data.sample_factors(p.mig_points, rng)
    out["mig"] = mig(represent_in_chunks(data, represent, factors), factors)
    if p.dci_train > 0:
        train_f = data.sample_factors(p.dci_train, rng)
        test_f = data.sample_factors(p.dci_test, rng)
        d = dci(represent_in_chunks(data, represent, train_f), train_f,
                represent_in_chunks(data, represent, test_f), test_f, random_state=seed_from(rng))
        out["dci_disentanglement"], out["dci_completeness"] = d["disentanglement"], d["completeness"]
        out["dci_informativeness"] = d["informativeness_test"]
        out["dci_informativeness_train"] = d["informativeness_train"]
    train_f = data.sample_factors(p.sap_train, rng)
    test_f = data.sample_factors(p.sap_test, rng)
    out["sap"] = sap(represent_in_chunks(data, represent, train_f), train_f,
                     represent_in_chunks(data, represent, test_f), test_f)
    return out


def _probe(data, represent, p: MetricPreset) -> dict:
    images, labels = data.eval_set(p.probe_points, seed=1)
    codes = represent(images)
    half = len(codes) // 2
    labels = np.asarray(labels)
    return {"linear_probe_accuracy": linear_probe_accuracy(codes[:half], labels[:half], codes[half:], labels[half:])}
