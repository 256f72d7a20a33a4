"""Shape error: what is wrong with an output once its blur is accounted for.

``blur`` compares only how much detail an output has, not where it is or what shape it draws. The
rest of the difference is this score: with σ̂ the output's signed blur (``blur_per_image``), blur the
sharper of the two images by |σ̂| so both have the same detail, then

    shape_error = 1 − max(ρ, 0)²,   ρ = corr(output, G_σ̂ ∗ original)   (σ̂ ≥ 0; for σ̂ < 0 the
                                                                        output is blurred instead)

over all pixels and channels: the fraction of the output's variance that no gain-and-offset copy
of the equally-blurred original explains. 0 = the output is the original up to blur, gain and
offset; it grows with misplacement (a shift of 1, 2, 3 px) and outline error (dilation, another
shape); 1 = nothing in common. A per-image blur beyond ``SIGMA_MAX`` is matched at ``SIGMA_MAX``.
"""

from __future__ import annotations

import math

import torch

from analysis.metrics.blur import (
    SIGMA_MAX,
    blur_per_image,
    bootstrap_median_se,
    is_collapsed,
    is_flat,
    median_or_nan,
    require_defined,
)
from analysis.metrics.spectrum import dct2, transfer


def shape_error_per_image(outputs: torch.Tensor, originals: torch.Tensor,
                          sigma: torch.Tensor | None = None) -> torch.Tensor:
    """Shape error per image (N,) float64 in [0, 1]; ``sigma``: the outputs' ``blur_per_image`` if
    already computed. NaN for a constant original or output."""
    if sigma is None:
        sigma = blur_per_image(outputs, originals)
    s = sigma.to(torch.float64).nan_to_num(nan=0.0, posinf=SIGMA_MAX, neginf=-SIGMA_MAX)
    cx, cy = dct2(originals), dct2(outputs)
    cx[..., 0, 0] = 0.0
    cy[..., 0, 0] = 0.0
    h, w = cx.shape[-2:]
    t = (transfer(s.abs(), h)[:, :, None] * transfer(s.abs(), w)[:, None, :])[:, None]  # (N, 1, H, W)
    blur_x = (s >= 0)[:, None, None, None]
    cx, cy = torch.where(blur_x, cx * t, cx), torch.where(blur_x, cy, cy * t)
    sxy, sxx, syy = ((a * b).sum((1, 2, 3)) for a, b in ((cx, cy), (cx, cx), (cy, cy)))
    error = 1.0 - (sxy / (sxx * syy).sqrt()).clamp_min(0.0).square()
    return torch.where(is_flat(originals) | is_flat(outputs), torch.full_like(error, math.nan), error)


def shape_error(outputs: torch.Tensor, originals: torch.Tensor) -> float:
    """Median over images of ``shape_error_per_image``; NaN for collapsed outputs."""
    return shape_error_with_se(outputs, originals, num_bootstrap=0)[0]


def shape_error_with_se(outputs: torch.Tensor, originals: torch.Tensor, rng=None, num_bootstrap: int = 200,
                        sigma: torch.Tensor | None = None) -> tuple[float, float]:
    """(``shape_error``, its bootstrap SE over images); (NaN, NaN) for collapsed outputs."""
    v = require_defined(shape_error_per_image(outputs, originals, sigma))
    if is_collapsed(outputs, originals):
        return math.nan, math.nan
    return median_or_nan(v), bootstrap_median_se(v, rng, num_bootstrap)


__all__ = ["shape_error", "shape_error_per_image", "shape_error_with_se"]
