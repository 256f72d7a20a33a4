"""Reconstruction error and blur of a model on held-out images.

``recon_error`` is the per-image negative log-likelihood under the model's likelihood (nats, summed
over pixels) of the image decoded from the ENCODER MEAN μ(x), with ``recon_error_se`` the standard
error of that mean over the evaluation images; ``recon_error_sampled`` the same for
ONE code z ~ q(z|x) per image (as disentanglement_lib reports it; equal to ``recon_error`` for a
deterministic encoder, whose logvar is None). ``recon_mse`` is the mean squared error per pixel of
the mean reconstruction in [0, 1] — comparable across likelihoods.

Blur, in pixels (``analysis.metrics.blur``): the σ of the Gaussian blur that takes the original's
edge width to the output's — 0 = as sharp as the data, negative = sharper; blind to where a shape
is and, nearly, to its outline, which ``shape_error`` (``analysis.metrics.shape_error``) measures.

* ``blur``: median over images of each mean reconstruction's blur against its original;
  ``blur_se`` its bootstrap standard error over images.
* ``shape_error`` (``_se``): median fraction of a reconstruction's variance that the equally
  blurred original does not explain (misplacement, outline errors), in [0, 1].
* ``output_variation``: the reconstructions' variance across images over the originals'; below
  ``COLLAPSE_VARIATION`` the model has collapsed (``collapsed`` = 1): the outputs no longer depend
  on the input, and blur and shape_error are NaN (they describe an output, not a model's mean).
* ``blur_samples``: the blur of prior samples against the data's mean spectrum (they have no
  original of their own); ``blur_samples_se`` its bootstrap SE.
* ``data_sharpness``: the same measure on the originals themselves, the level ``blur_samples``
  should be compared with (≈ 0 up to the spread of the data's edge widths).
* ``sample_distance`` (``_se``), ``data_distance``: how far prior samples lie from their nearest
  evaluation image, and the images from each other (``analysis.metrics.samples``).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from analysis.metrics.blur import (
    COLLAPSE_VARIATION,
    blur_per_image,
    bootstrap_median_se,
    median_or_nan,
    output_variation,
    sharpness_px,
    sharpness_with_se,
)
from analysis.metrics.samples import sample_distance_scores
from analysis.metrics.shape_error import shape_error_per_image
from models.modes import evaluating


@torch.no_grad()
def reconstruction_scores(model, images: torch.Tensor, batch_size: int = 256,
                          num_samples: int | None = None, generator: torch.Generator | None = None) -> dict:
    """recon_error(_se, _sampled), recon_mse, blur(_se), shape_error(_se), output_variation, collapsed,
    blur_samples(_se), data_sharpness, sample_distance(_se) and data_distance of ``model``.

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
    blur_samples, blur_samples_se = sharpness_with_se(samples, images, rng)
    nll = torch.cat(nlls)
    return {
        "recon_error": float(nll.mean()),
        "recon_error_se": float(nll.std() / np.sqrt(len(nll))) if len(nll) > 1 else math.nan,
        "recon_error_sampled": float(torch.cat(sampled).mean()),
        "recon_mse": se_sum / images.numel(),
        **blur_and_shape(recon, images, rng),
        "blur_samples": blur_samples,
        "blur_samples_se": blur_samples_se,
        "data_sharpness": sharpness_px(images, images),
        **sample_distance_scores(samples, images),
    }


def blur_and_shape(outputs: torch.Tensor, originals: torch.Tensor, rng) -> dict:
    """blur, shape_error (each with its bootstrap SE), output_variation and collapsed, from one pass
    of ``blur_per_image``; a collapsed model's blur and shape_error are NaN."""
    variation = output_variation(outputs, originals)
    collapsed = variation < COLLAPSE_VARIATION
    sigma = blur_per_image(outputs, originals)
    shape = shape_error_per_image(outputs, originals, sigma)
    scores = {"output_variation": variation, "collapsed": float(collapsed)}
    for name, values in (("blur", sigma.numpy()), ("shape_error", shape.numpy())):
        scores[name] = math.nan if collapsed else median_or_nan(values)
        scores[f"{name}_se"] = math.nan if collapsed else bootstrap_median_se(values, rng)
    return scores
