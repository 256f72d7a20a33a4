"""Reconstruction error and blur of a model on held-out images.

``recon_error`` is the per-image negative log-likelihood under the model's likelihood (nats, summed
over pixels) of the image decoded from the ENCODER MEAN μ(x), with ``recon_error_se`` the standard
error of that mean over the evaluation images; ``recon_error_sampled`` the same for
ONE code z ~ q(z|x) per image (as disentanglement_lib reports it; equal to ``recon_error`` for a
deterministic encoder, whose logvar is None). ``recon_mse`` is the mean squared error per pixel of
the mean reconstruction in [0, 1] — comparable across likelihoods.

Blur, in pixels (``analysis.metrics.blur``): the standard deviation of the Gaussian blur that best
explains an output given the best gain and offset — 0 = as sharp as the data.

* ``blur``: median over images of the equivalent blur σ of each mean reconstruction against its
  original (full reference); ``blur_se`` its bootstrap standard error over images.
* ``blur_samples``: no-reference sharpness (px, calibrated on dSprites) of prior samples — they
  have no original to compare with; ``blur_samples_se`` its bootstrap SE.
* ``data_sharpness``: the same no-reference measure on the originals, the level ``blur_samples``
  should be compared with (binary dSprites read 0).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from analysis.metrics.blur import blur_with_se, sharpness_px, sharpness_with_se
from models.modes import evaluating


@torch.no_grad()
def reconstruction_scores(model, images: torch.Tensor, batch_size: int = 256,
                          num_samples: int | None = None, generator: torch.Generator | None = None) -> dict:
    """recon_error(_se, _sampled), recon_mse, blur(_se), blur_samples(_se), data_sharpness of ``model``.

    ``generator`` (on the model's device) draws the prior samples, then the codes z ~ q(z|x), then
    the seed of the bootstrap; None uses the global RNG for the former and seed 0 for the latter.
    """
    with evaluating(model):
        device = next(model.parameters()).device
        samples = model.sample(num_samples or len(images), generator=generator)
        nlls, sampled, se_sum, recons = [], [], 0.0, []
        for start in range(0, len(images), batch_size):
            x = images[start:start + batch_size].to(device)
            mu, logvar = model.encode(x)
            raw = model.decode(mu)
            nll = model.likelihood.nll(x, raw)
            nlls.append(nll.double().cpu())
            if logvar is None:
                sampled.append(nlls[-1])
            else:
                eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
                z = mu + torch.exp(0.5 * logvar) * eps
                sampled.append(model.likelihood.nll(x, model.decode(z)).double().cpu())
            mean = model.likelihood.mean(raw)
            se_sum += float((mean - x).square().sum())
            recons.append(mean)
        recon = torch.cat(recons)
    if not (torch.isfinite(recon).all() and torch.isfinite(samples).all()):
        raise ValueError("model: reconstructions contain NaN/inf; the model diverged")
    seed = 0 if generator is None else int(torch.randint(2**62, (1,), generator=generator,
                                                             device=generator.device))
    rng = np.random.default_rng(seed)
    blur, blur_se = blur_with_se(recon, images, rng)
    blur_samples, blur_samples_se = sharpness_with_se(samples, rng)
    nll = torch.cat(nlls)
    return {
        "recon_error": float(nll.mean()),
        "recon_error_se": float(nll.std() / np.sqrt(len(nll))) if len(nll) > 1 else math.nan,
        "recon_error_sampled": float(torch.cat(sampled).mean()),
        "recon_mse": se_sum / images.numel(),
        "blur": blur,
        "blur_se": blur_se,
        "blur_samples": blur_samples,
        "blur_samples_se": blur_samples_se,
        "data_sharpness": sharpness_px(images),
    }
