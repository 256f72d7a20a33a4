"""Blur in pixels: the Gaussian blur σ (px) that explains the detail an output has lost.

A VAE decodes the *average* of the images compatible with its posterior, so the detail it is unsure
of is averaged away: its outputs look like low-pass filtered data. We express that loss as the σ of
the Gaussian blur (``spectrum.gaussian_blur``) that takes the original's edge width to the output's:

    σ̂ > 0:  W_x(σ̂) = W_y(0)      (the output is as smooth as the original blurred by σ̂)
    σ̂ < 0:  W_y(|σ̂|) = W_x(0)    (the output is sharper: blurring *it* by |σ̂| gives the original's)

with W the edge width² of ``spectrum.edge_width2``, a ratio of power-spectrum moments. Only the
power spectra enter, so where a shape is does not count (a shift reads 0), nor, nearly, what the
outline is (a 1-px dilation, another sharp shape, a thresholded blur with rounded corners read
≈ 0): the errors blur does not count are ``shape_error``'s. Gain and offset do not count either.
For a pure Gaussian blur of any content σ̂ = σ exactly (W_x is computed from x itself). Sharpening
(and added pixel noise, which is detail too) reads negative; an anisotropic blur reads below its
larger σ (blur along one axis by 2 px reads ≈ 0.6 on dSprites). The probes are in the benchmarks.

* ``blur_per_image`` / ``blur_score`` / ``blur_with_se`` — full reference (reconstruction vs original);
* ``sharpness_per_image`` / ``sharpness_px`` — prior samples, against the data's mean spectrum.

A collapsed model — outputs that no longer depend on the input (``output_variation`` below
``COLLAPSE_VARIATION``) — has no blur: the scores are NaN, never a number that enters a mean or a
front. Per image, blur beyond ``SIGMA_MAX`` is +inf (a median can still be finite) and a constant
original is NaN.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from analysis.metrics.spectrum import blur_to_match, edge_width2, gaussian_blur, omega2, power
from analysis.metrics.uncertainty import bootstrap_se

__all__ = ["SIGMA_MAX", "COLLAPSE_VARIATION", "blur_per_image", "blur_score", "blur_with_se",
           "output_variation", "is_collapsed", "sharpness_per_image", "sharpness_px", "sharpness_with_se",
           "bootstrap_median_se", "gaussian_blur"]

SIGMA_MAX = 8.0
"""Largest σ (px) searched: blurrier outputs read +inf per image."""
COLLAPSE_VARIATION = 0.05
"""Outputs whose variance across images is below this fraction of the originals' are collapsed."""
_FLAT = 1e-6  # an image whose pixel standard deviation is below this is flat (constant)


def _check_pair(outputs: torch.Tensor, originals: torch.Tensor) -> None:
    if outputs.shape != originals.shape or outputs.ndim != 4:
        raise ValueError(f"blur: outputs {tuple(outputs.shape)} and originals {tuple(originals.shape)} "
                         "must both be (N, C, H, W) of the same shape")


def is_flat(images: torch.Tensor) -> torch.Tensor:
    """Per image: pixel standard deviation below 1e-6 (a constant image, nothing to compare)."""
    return images.detach().to("cpu", torch.float64).flatten(1).std(1) < _FLAT


def _signed_blur(p_y: torch.Tensor, p_x: torch.Tensor, sigma_max: float) -> torch.Tensor:
    """Signed σ̂ from the power spectra of outputs and references (both (N, H, W))."""
    w2 = omega2(*p_x.shape[-2:])
    zero = torch.zeros(len(p_x), dtype=torch.float64)
    wy, wx = edge_width2(p_y, w2, zero), edge_width2(p_x, w2, zero)
    blurrier = blur_to_match(p_x, w2, wy, sigma_max)
    sharper = -blur_to_match(p_y, w2, wx, sigma_max)
    return torch.where(wy >= wx, blurrier, sharper)


def blur_per_image(outputs: torch.Tensor, originals: torch.Tensor, sigma_max: float = SIGMA_MAX,
                   chunk: int = 1024) -> torch.Tensor:
    """Signed equivalent Gaussian blur σ̂ (px) of each output w.r.t. its original: (N,) float64.

    0 for a copy, a shifted copy, or any a·x + b (a ≠ 0); σ for G_σ∗x; negative when sharper;
    +inf beyond ``sigma_max`` or for a constant output; NaN for a constant original.
    """
    _check_pair(outputs, originals)
    out = []
    for start in range(0, len(originals), chunk):
        x, y = originals[start:start + chunk], outputs[start:start + chunk]
        sigma = _signed_blur(power(y), power(x), sigma_max)
        sigma = torch.where(is_flat(y), torch.full_like(sigma, math.inf), sigma)  # every detail is gone
        out.append(torch.where(is_flat(x), torch.full_like(sigma, math.nan), sigma))
    return torch.cat(out)


def output_variation(outputs: torch.Tensor, originals: torch.Tensor) -> float:
    """Σ_pixels Var_images(outputs) / Σ_pixels Var_images(originals): 0 when every output is the same
    image (a collapsed model), ≈ 1 when outputs vary as much as the data. NaN for fewer than 2 images."""
    _check_pair(outputs, originals)
    if len(outputs) < 2:
        return math.nan
    y, x = (t.detach().to("cpu", torch.float64) for t in (outputs, originals))
    return float(y.var(0).sum() / x.var(0).sum().clamp_min(1e-300))


def is_collapsed(outputs: torch.Tensor, originals: torch.Tensor) -> bool:
    """Outputs that do not depend on the input: ``output_variation`` below ``COLLAPSE_VARIATION``."""
    return output_variation(outputs, originals) < COLLAPSE_VARIATION


def median_or_nan(values: np.ndarray) -> float:
    """Median of the non-NaN values (+inf allowed); NaN if none or if the median is infinite."""
    v = values[~np.isnan(values)]
    m = float(np.median(v)) if len(v) else math.nan
    return m if math.isfinite(m) else math.nan


def require_defined(values: torch.Tensor) -> np.ndarray:
    v = values.numpy()
    if np.isnan(v).all():
        raise ValueError("blur: every original is constant (no detail to lose); blur is undefined")
    return v


def blur_score(outputs: torch.Tensor, originals: torch.Tensor) -> float:
    """Median over images of ``blur_per_image`` (σ̂ in px; 0 = as sharp as the originals).

    NaN for collapsed outputs or when most outputs are blurrier than ``SIGMA_MAX``; ValueError if
    the shapes differ or every original is constant.
    """
    return blur_with_se(outputs, originals, num_bootstrap=0)[0]


def bootstrap_median_se(values, rng=None, num_bootstrap: int = 200) -> float:
    """Bootstrap standard error of the median of the non-NaN ``values`` (+inf allowed; NaN if fewer
    than 2 or if a resample's median is infinite); ``rng``: a numpy Generator, a seed or None (seed 0)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[~np.isnan(v)]
    if len(v) < 2 or num_bootstrap < 2:
        return math.nan
    rng = np.random.default_rng(0 if rng is None else rng)
    se = bootstrap_se(lambda rows: float(np.median(v[rows])), len(v), rng, num_bootstrap)
    return se if math.isfinite(se) else math.nan


def blur_with_se(outputs: torch.Tensor, originals: torch.Tensor, rng=None,
                 num_bootstrap: int = 200) -> tuple[float, float]:
    """(``blur_score``, its bootstrap SE over images), from one pass of ``blur_per_image``;
    (NaN, NaN) for collapsed outputs."""
    v = require_defined(blur_per_image(outputs, originals))
    if is_collapsed(outputs, originals):
        return math.nan, math.nan
    return median_or_nan(v), bootstrap_median_se(v, rng, num_bootstrap)


def _reference_spectrum(reference: torch.Tensor) -> torch.Tensor:
    """The mean of the reference images' power spectra, each scaled to unit M₂, so its W is the
    mean of their edge widths²: (1, H, W)."""
    p = power(reference)
    m2 = (p * omega2(*p.shape[-2:]).square()).sum((1, 2), keepdim=True)
    keep = m2.flatten() > 0
    if not keep.any():
        raise ValueError("sharpness: every reference image is constant; nothing to compare with")
    return (p[keep] / m2[keep]).mean(0, keepdim=True)


def sharpness_per_image(images: torch.Tensor, reference: torch.Tensor,
                        sigma_max: float = SIGMA_MAX) -> torch.Tensor:
    """Signed blur σ̂ (px) of each image (N,) against the data's mean spectrum (``reference``:
    images of the data), for images with no original of their own (prior samples).

    As ``blur_per_image`` with the reference spectrum in place of an original; the data's own
    images read about 0 (``sharpness_px(data, data)`` gives the level: their spread around the
    mean). Pixel noise reads as sharpening (negative). NaN for flat images.
    """
    if images.ndim != 4 or reference.ndim != 4 or images.shape[1:] != reference.shape[1:]:
        raise ValueError(f"sharpness: expected images (N, C, H, W) shaped like the reference, got "
                         f"{tuple(images.shape)} and {tuple(reference.shape)}")
    p = power(images)
    sigma = _signed_blur(p, _reference_spectrum(reference).expand_as(p), sigma_max)
    return torch.where(is_flat(images), torch.full_like(sigma, math.nan), sigma)


def sharpness_px(images: torch.Tensor, reference: torch.Tensor) -> float:
    """Median over images of ``sharpness_per_image`` (px); NaN if every image is flat."""
    return median_or_nan(sharpness_per_image(images, reference).numpy())


def sharpness_with_se(images: torch.Tensor, reference: torch.Tensor, rng=None,
                      num_bootstrap: int = 200) -> tuple[float, float]:
    """(``sharpness_px``, its bootstrap SE over images)."""
    v = sharpness_per_image(images, reference).numpy()
    return median_or_nan(v), bootstrap_median_se(v, rng, num_bootstrap)
