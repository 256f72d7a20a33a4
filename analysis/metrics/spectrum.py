"""The DCT spectrum of images: Gaussian blur by definition, power spectra and edge width.

Gaussian blur here is the continuous one on the band-limited image: per axis the spectrum is
multiplied by exp(−σ²ω²/2) (ω in rad/px), with half-sample mirrored boundaries (``cba|abc|cba``):
exactly a scaling of the orthonormal 2-D DCT-II coefficients (``gaussian_blur``). For σ ≥ 1 px it
matches a sampled-kernel filter (``scipy.ndimage.gaussian_filter``) to 0.01 px; below, a sampled
kernel blurs *less* than its nominal σ (its 0.5 reads ≈ 0.41 here, its 0.25 is nearly the identity).

``edge_width2`` is the statistic the blur scores are built on: with P the power spectrum and
|ω|² = ω_k² + ω_l², W(σ) = Σ|ω|² P e^{−σ²|ω|²} / Σ|ω|⁴ P e^{−σ²|ω|²} (px²), the edge width² of an
image blurred by σ. For a step edge blurred by s (in the continuum P ∝ e^{−s²ω²}/ω² along its
normal) W = 2s², whatever its contrast; for any image it is gain- and offset-free (the DC term
has weight 0), unchanged by a translation (power spectra are), and, because numerator and
denominator both scale with the length of the outlines, nearly unchanged by an outline's shape or
size. It rises monotonically with σ
(Cauchy–Schwarz: M₂² ≤ M₁M₃ for the moments M_j = Σ|ω|^{2j} P e^{−σ²|ω|²}).
"""

from __future__ import annotations

import functools
import math

import torch


@functools.lru_cache(maxsize=8)
def _dct_matrix(n: int) -> torch.Tensor:
    """Orthonormal DCT-II matrix D (n, n) in float64: coefficients c = D x, x = Dᵀ c."""
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    d = torch.cos(math.pi * (i + 0.5) * k / n) * math.sqrt(2.0 / n)
    d[0] /= math.sqrt(2.0)
    return d


def transfer(sigmas: torch.Tensor, n: int) -> torch.Tensor:
    """exp(−σ²ω_k²/2) at the DCT frequencies ω_k = πk/n: shape (*sigmas.shape, n)."""
    omega = math.pi * torch.arange(n, dtype=torch.float64) / n
    return torch.exp(-0.5 * sigmas.to(torch.float64)[..., None].square() * omega.square())


def dct2(images: torch.Tensor) -> torch.Tensor:
    """Orthonormal 2-D DCT-II of the last two axes, on the CPU in float64."""
    x = images.detach().to("cpu", torch.float64)
    h, w = x.shape[-2:]
    return _dct_matrix(h) @ x @ _dct_matrix(w).T


def gaussian_blur(images: torch.Tensor, sigma) -> torch.Tensor:
    """Images (N, C, H, W) blurred by the Gaussian of std ``sigma`` px (a float, or (N,) per image).

    DCT-II coefficients are exactly the spectrum of the mirrored image, so blurring is
    c_kl ← c_kl · exp(−σ²(ω_k² + ω_l²)/2) and then the inverse transform (mean preserved).
    """
    h, w = images.shape[-2:]
    s = torch.as_tensor(sigma, dtype=torch.float64).reshape(-1, 1)  # (1 or N, 1): broadcasts over N
    c = dct2(images) * transfer(s, h)[..., :, None] * transfer(s, w)[..., None, :]
    out = _dct_matrix(h).T @ c @ _dct_matrix(w)
    return out.to(images.device, images.dtype if images.dtype.is_floating_point else torch.float32)


def omega2(h: int, w: int) -> torch.Tensor:
    """|ω|² = ω_k² + ω_l² (rad²/px²) at each DCT coefficient, (H, W) float64."""
    oh = (math.pi * torch.arange(h, dtype=torch.float64) / h).square()
    ow = (math.pi * torch.arange(w, dtype=torch.float64) / w).square()
    return oh[:, None] + ow[None, :]


def power(images: torch.Tensor) -> torch.Tensor:
    """Power spectrum per image, summed over channels: |DCT|² (N, H, W) float64, DC excluded."""
    p = dct2(images).square().sum(1)
    p[:, 0, 0] = 0.0
    return p


def _weighted(p: torch.Tensor, w2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(|ω|² P, |ω|⁴ P): the spectra whose blurred sums are the moments M₁, M₂."""
    return p * w2, p * w2.square()


def _ratio(q1: torch.Tensor, q2: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """M₁(σ)/M₂(σ) per image; the blur e^{−σ²|ω|²} = e^{−σ²ω_k²}·e^{−σ²ω_l²} is separable, so each
    moment is a bilinear form eₕᵀ Q e_w (N·H·W multiplications, no H·W exponentials). NaN if M₂ = 0."""
    h, w = q1.shape[-2:]
    s = sigma.to(torch.float64)
    eh, ew = transfer(s, h).square()[:, None, :], transfer(s, w).square()  # (N, 1, H), (N, W)
    m1 = (torch.bmm(eh, q1).squeeze(1) * ew).sum(-1)
    m2 = (torch.bmm(eh, q2).squeeze(1) * ew).sum(-1)
    return torch.where(m2 > 0, m1 / m2.clamp_min(1e-300), torch.full_like(m1, math.nan))


def edge_width2(p: torch.Tensor, w2: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """W(σ) = M₁(σ)/M₂(σ) (px²) of power spectra ``p`` (N, H, W) after a blur ``sigma`` (N,).

    NaN where the image has no detail left (M₂ = 0: a flat image).
    """
    return _ratio(*_weighted(p, w2), sigma)


def blur_to_match(p: torch.Tensor, w2: torch.Tensor, target: torch.Tensor, sigma_max: float,
                  iterations: int = 40) -> torch.Tensor:
    """σ ∈ [0, sigma_max] with W_p(σ) = ``target`` per image (bisection; W rises with σ): (N,).

    +inf where even ``sigma_max`` leaves the image sharper than the target (or the target is +inf);
    0 where it is already blurrier; NaN where the target is NaN or the image is flat.
    """
    q1, q2 = _weighted(p, w2)
    lo, hi = torch.zeros(len(p), dtype=torch.float64), torch.full((len(p),), float(sigma_max), dtype=torch.float64)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        below = _ratio(q1, q2, mid) < target
        lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
    sigma = 0.5 * (lo + hi)
    beyond = _ratio(q1, q2, torch.full_like(sigma, float(sigma_max))) < target
    sigma = torch.where(beyond, torch.full_like(sigma, math.inf), sigma)
    undefined = torch.isnan(target) | torch.isnan(_ratio(q1, q2, torch.zeros_like(sigma)))
    return torch.where(undefined, torch.full_like(sigma, math.nan), sigma)
