"""The previous ``blur`` (until 2026-12-06), kept only to print the "before" column of
benchmarks/blur_probes.py: the σ of the Gaussian blur that, with the best gain and offset, best
maps the original onto the output (maximum correlation over σ ∈ [0, 8] on a 0.1-px grid, refined
by parabolas in t = σ²). It reads any difference as blur, shifts and outline errors included.
"""

from __future__ import annotations

import torch

from analysis.metrics.spectrum import dct2, transfer

SIGMA_MAX, SIGMA_STEP = 8.0, 0.1


def _residuals(p, q, syy, sigmas):
    """1 − ρ|ρ| per image and σ, ρ = corr(output, G_σ∗original), by Parseval on DCT coefficients."""
    h, w = p.shape[-2:]
    th, tw = transfer(sigmas, h), transfer(sigmas, w)
    sxy = ((p @ tw.transpose(-1, -2)).transpose(-1, -2) * th).sum(-1)
    sxx = ((q @ tw.square().transpose(-1, -2)).transpose(-1, -2) * th.square()).sum(-1)
    rho = sxy / (sxx * syy[:, None]).sqrt()
    return 1.0 - rho * rho.abs()


def _vertex(t, r):
    (t0, t1, t2), (r0, r1, r2) = t.unbind(1), r.unbind(1)
    num = (t1 - t0).square() * (r1 - r2) - (t1 - t2).square() * (r1 - r0)
    den = (t1 - t0) * (r1 - r2) - (t1 - t2) * (r1 - r0)
    vertex = torch.where(den < 0, t1 - 0.5 * num / den.clamp_max(-1e-300), t1)
    return torch.minimum(torch.maximum(vertex, t0), t2)


def legacy_blur_score(outputs: torch.Tensor, originals: torch.Tensor) -> float:
    """Median over images of the old per-image σ (px); constant outputs read SIGMA_MAX."""
    grid = torch.arange(0.0, SIGMA_MAX + SIGMA_STEP / 2, SIGMA_STEP, dtype=torch.float64)
    x, y = (t.detach().to("cpu", torch.float64) for t in (originals, outputs))
    cx, cy = dct2(x - x.mean((1, 2, 3), keepdim=True)), dct2(y - y.mean((1, 2, 3), keepdim=True))
    p, q, syy = (cx * cy).sum(1), cx.square().sum(1), cy.square().sum((1, 2, 3))
    r = _residuals(p, q, syy, grid)
    best = r.argmin(1)
    mid = best.clamp(1, len(grid) - 2)
    idx = torch.stack([mid - 1, mid, mid + 1], 1)
    t = _vertex(grid[idx].square(), r.gather(1, idx))
    for step in (0.02, 0.004):
        s = t.sqrt().clamp_min(step)[:, None] + step * torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64)
        t = _vertex(s.square(), _residuals(p, q, syy, s))
    sigma = torch.where((best == len(grid) - 1) | (syy <= 0), torch.full_like(t, SIGMA_MAX), t.sqrt())
    return float(sigma[x.flatten(1).std(1) >= 1e-6].median())
