"""What a trial measures on held-out data: the validation reconstruction error of each report, the
final scores (the metric preset plus the objective's terms), and the figures and model file a
completed trial leaves behind (rendered once, here)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from analysis.schema import Artifact
from models.modes import evaluating

if TYPE_CHECKING:
    from train.trial_run import TrialRun

#: Evaluation images the figures are drawn from (their codes span an AE's traversal ranges).
FIGURE_IMAGES = 256
#: Inputs every trial of a study encodes for UDR (the same held-out images for every seed).
UDR_POINTS = 1000


@torch.no_grad()
def mean_recon_error(model, images: torch.Tensor, batch_size: int) -> float:
    """Per-image reconstruction NLL (nats) decoding the encoder mean, averaged over ``images``."""
    total = 0.0
    with evaluating(model):
        for start in range(0, len(images), batch_size):
            x = images[start:start + batch_size]
            mu, _ = model.encode(x)
            total += float(model.likelihood.nll(x, model.decode(mu)).sum())
    return total / len(images)


@torch.no_grad()
def evaluate_objective_terms(model, images: torch.Tensor, batch_size: int) -> dict[str, float]:
    """Held-out objective and its terms (KL, and MI/TC/dim-wise KL for β-TCVAE), plus KL per dim.

    The β-TCVAE terms are minibatch estimates, so they are computed on batches of the training
    batch size (the estimator's bias depends on it) and averaged.
    """
    sums: dict[str, float] = {}
    kl_dims = None
    batches = 0
    with evaluating(model):
        for start in range(0, len(images) - batch_size + 1, batch_size):
            x = images[start:start + batch_size]
            out = model(x)
            lo = model.loss(x, out)
            sums["eval_loss"] = sums.get("eval_loss", 0.0) + float(lo.loss)
            for name, value in lo.terms.items():
                sums[f"eval_{name}"] = sums.get(f"eval_{name}", 0.0) + float(value)
            per_dim = model.kl_per_dim(out.mu, out.logvar)
            if per_dim is not None:
                kl_dims = per_dim if kl_dims is None else kl_dims + per_dim
            batches += 1
    result = {k: v / max(batches, 1) for k, v in sums.items()}
    if kl_dims is not None:
        mean_kl = (kl_dims / max(batches, 1)).tolist()
        result.update({f"kl_dim_{j}": value for j, value in enumerate(mean_kl)})
        result["active_dims"] = float(sum(v > 0.01 for v in mean_kl))
    return result


def score(run: TrialRun) -> dict[str, Any]:
    """The configured metric preset plus the held-out objective terms, on the evaluation set."""
    from analysis.metrics import score_model

    config = run.config
    eval_images, eval_labels = run.data.eval_set(config.eval_size, seed=0)
    scores = score_model(run.model, run.data, np.random.default_rng(config.seed), which=config.metrics,
                         eval_images=eval_images, eval_labels=eval_labels)
    scores.update(evaluate_objective_terms(run.model, eval_images, config.batch_size))
    scores["steps_done"] = float(run.step)
    return scores


def estimate(run: TrialRun, images: torch.Tensor, labels) -> dict[str, float]:
    """A cheap estimate of the trial's scores now (``estimate/<metric>``): the estimate metric
    preset and the objective terms on the validation images, seeded by the step so a resumed trial
    reports the same numbers."""
    from analysis.metrics import score_model
    from analysis.schema import ESTIMATE_PREFIX, ESTIMATE_PRESET, numeric_values

    rng = np.random.default_rng([run.config.seed, run.step])
    scores = score_model(run.model, run.data, rng, which=ESTIMATE_PRESET, eval_images=images, eval_labels=labels)
    scores.update(evaluate_objective_terms(run.model, images, min(run.config.batch_size, len(images))))
    return {f"{ESTIMATE_PREFIX}{k}": v for k, v in numeric_values(scores).items()}


def write_artifacts(run: TrialRun, out_dir: str) -> dict[str, str]:
    """The trained model's figures and model file under ``out_dir``, rendered once; returns
    artifact path → file (the tracker uploads these files as they are). The UDR codes, a
    measurement, are written while scoring (:func:`write_udr_codes`)."""
    from analysis.images import write_trial_figures
    from models import save_model

    images, _ = run.data.eval_set(FIGURE_IMAGES, seed=0)
    files = write_trial_figures(run.model, images, out_dir, seed=run.config.seed)
    model_file = os.path.join(out_dir, Artifact.MODEL_DIR, Artifact.MODEL_FILE)
    os.makedirs(os.path.dirname(model_file), exist_ok=True)
    save_model(run.model, model_file)
    files[f"{Artifact.MODEL_DIR}/{Artifact.MODEL_FILE}"] = model_file
    return files


@torch.no_grad()
def write_udr_codes(run: TrialRun, out_dir: str) -> dict[str, str]:
    """The per-trial half of UDR, whose study-level half compares seeds (:mod:`analysis.study_udr`):
    the encoder means of :data:`UDR_POINTS` fixed held-out images (``eval_set(seed=2)``, the same
    for every trial of a dataset) and their mean KL per dim (Duan et al. 2020), written under
    ``out_dir`` as :attr:`Artifact.UDR_CODES`; returns that artifact path → file."""
    path = os.path.join(out_dir, Artifact.UDR_CODES)
    images, _ = run.data.eval_set(UDR_POINTS, seed=2)
    codes, kls = [], []
    with evaluating(run.model):
        for start in range(0, len(images), 256):
            mu, logvar = run.model.encode(images[start:start + 256])
            codes.append(mu.float().cpu().numpy())
            if logvar is not None:
                kls.append(run.model.kl_per_dim(mu, logvar).float().cpu().numpy() * len(mu))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    arrays = {"codes": np.concatenate(codes)}
    if kls:
        arrays["kl"] = np.sum(kls, axis=0) / len(images)
    np.savez(path, **arrays)
    return {Artifact.UDR_CODES: path}
