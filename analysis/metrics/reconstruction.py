"""Reconstruction error and blur.

``recon_error`` is the per-image negative log-likelihood of the model's likelihood (nats, summed
over pixels, decoding the encoder mean); ``recon_mse`` the mean squared error per pixel of the
reconstructed image in [0, 1] — comparable across likelihoods.

Blur. A VAE decodes the *average* of the images compatible with its posterior, so detail it is
uncertain about — edges, fine texture — is averaged away: its outputs are low-pass filtered
versions of the data. Pixel error does not separate that from being wrong; a direct measure of
lost sharpness does. We use the energy of the discrete Laplacian (the standard "variance of the
Laplacian" focus measure), computed per image and channel and averaged over the set:

    E(X)  = mean over images, channels and pixels of (∇²x)²,  ∇² = [[0,1,0],[1,−4,1],[0,1,0]]
    blur  = 1 − E(reconstructions) / E(originals)

0 means as sharp as the data, 1 means no high-frequency content at all; Gaussian smoothing with a
growing kernel raises it monotonically (the Laplacian's response falls with every low-pass step).
It can be negative when outputs carry *more* high-frequency energy than the data (noise or
ringing). ``blur_samples`` applies the same ratio to samples from the prior against held-out
originals (it needs no pairing).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def laplacian_energy(images: torch.Tensor) -> float:
    """Mean squared response of the discrete Laplacian over images (N, C, H, W)."""
    if images.ndim != 4:
        raise ValueError(f"images: expected (N, C, H, W), got shape {tuple(images.shape)}")
    x = images.float()
    n, c, h, w = x.shape
    kernel = _LAPLACIAN.to(x.device).view(1, 1, 3, 3)
    response = F.conv2d(x.reshape(n * c, 1, h, w), kernel)
    return float(response.square().mean())


def blur_score(outputs: torch.Tensor, originals: torch.Tensor) -> float:
    """1 − E(outputs)/E(originals): 0 = as sharp as the data, higher = blurrier."""
    reference = laplacian_energy(originals)
    if reference <= 0:
        raise ValueError("originals: the reference images have no high-frequency energy (constant "
                         "images); blur is undefined for them")
    return 1.0 - laplacian_energy(outputs) / reference


@torch.no_grad()
def reconstruction_scores(model, images: torch.Tensor, batch_size: int = 256,
                          num_samples: int | None = None, generator: torch.Generator | None = None) -> dict:
    """recon_error, recon_mse, blur, blur_samples of ``model`` on ``images`` (on its device)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    nll_sum, se_sum, recons = 0.0, 0.0, []
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size].to(device)
        mu, _ = model.encode(x)
        raw = model.decode(mu)
        nll_sum += float(model.likelihood.nll(x, raw).sum())
        mean = model.likelihood.mean(raw)
        se_sum += float((mean - x).square().sum())
        recons.append(mean)
    recon = torch.cat(recons)
    originals = images.to(device)
    samples = model.sample(num_samples or len(images), generator=generator)
    model.train(was_training)
    if not (torch.isfinite(recon).all() and torch.isfinite(samples).all()):
        raise ValueError("model: reconstructions contain NaN/inf; the model diverged")
    return {
        "recon_error": nll_sum / len(images),
        "recon_mse": se_sum / images.numel(),
        "blur": blur_score(recon, originals),
        "blur_samples": blur_score(samples, originals),
    }
