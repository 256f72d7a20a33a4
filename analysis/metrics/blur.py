"""Blur in pixels: the equivalent Gaussian blur radius σ of outputs and of samples.

A VAE decodes the *average* of the images compatible with its posterior, so the detail it is unsure
of is averaged away: its outputs look like low-pass filtered data. We express that loss as the
standard deviation σ (px) of the Gaussian blur that explains it: 0 = as sharp as the reference,
2 = "as if blurred by a 2-px Gaussian" — a unit that neither saturates nor confuses contrast with blur.

Gaussian blur here is the continuous one on the band-limited image: per axis the spectrum is
multiplied by exp(−σ²ω²/2) (ω in rad/px), with half-sample mirrored boundaries (``cba|abc|cba``):
exactly a scaling of the orthonormal 2-D DCT-II coefficients (``gaussian_blur``). For σ ≥ 1 px it
matches a sampled-kernel filter (``scipy.ndimage.gaussian_filter``) to 0.01 px; below, a sampled
kernel blurs *less* than its nominal σ (its 0.5 reads ≈ 0.41 here, its 0.25 is nearly the
identity), while this definition still resolves σ = 0.25 px.

* ``blur_per_image`` / ``blur_score`` — full reference (a reconstruction against its original);
* ``sharpness_per_image`` / ``sharpness_px`` — no reference (prior samples), calibrated on dSprites.

Per-image values are NaN for degenerate inputs (a constant original, a flat image); every aggregate
(median, bootstrap SE) ignores NaNs.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from analysis.metrics.uncertainty import bootstrap_se

SIGMA_MAX = 8.0
"""Largest σ (px) searched by ``blur_per_image``: larger blurs read as SIGMA_MAX."""
SIGMA_STEP = 0.1
_FLAT = 1e-6  # an image whose pixel standard deviation is below this is flat (constant)


@functools.lru_cache(maxsize=8)
def _dct_matrix(n: int) -> torch.Tensor:
    """Orthonormal DCT-II matrix D (n, n) in float64: coefficients c = D x, x = Dᵀ c."""
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    d = torch.cos(math.pi * (i + 0.5) * k / n) * math.sqrt(2.0 / n)
    d[0] /= math.sqrt(2.0)
    return d


def _transfer(sigmas: torch.Tensor, n: int) -> torch.Tensor:
    """exp(−σ²ω_k²/2) at the DCT frequencies ω_k = πk/n: shape (*sigmas.shape, n)."""
    omega = math.pi * torch.arange(n, dtype=torch.float64) / n
    return torch.exp(-0.5 * sigmas.to(torch.float64)[..., None].square() * omega.square())


def _dct2(images: torch.Tensor) -> torch.Tensor:
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
    c = _dct2(images) * _transfer(s, h)[..., :, None] * _transfer(s, w)[..., None, :]
    out = _dct_matrix(h).T @ c @ _dct_matrix(w)
    return out.to(images.device, images.dtype if images.dtype.is_floating_point else torch.float32)


def _residuals(p: torch.Tensor, q: torch.Tensor, syy: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """r = 1 − ρ|ρ| per image and candidate σ, with ρ(σ) = corr(output, blur_σ(original)).

    ``p`` = Σ_c C_y C_x and ``q`` = Σ_c C_x² (N, H, W) from the centred DCTs, ``syy`` = Σ C_y² (N,),
    ``sigmas`` (K,) shared or (N, K) per image. By Parseval, Σ y·x_σ = Σ C_y C_x T_σ and
    Σ x_σ² = Σ C_x² T_σ², with T_σ(k, l) = t_σ(k)·t_σ(l).
    """
    h, w = p.shape[-2:]
    th, tw = _transfer(sigmas, h), _transfer(sigmas, w)  # (…, K, H), (…, K, W)
    sxy = ((p @ tw.transpose(-1, -2)).transpose(-1, -2) * th).sum(-1)
    sxx = ((q @ tw.square().transpose(-1, -2)).transpose(-1, -2) * th.square()).sum(-1)
    rho = sxy / (sxx * syy[:, None]).sqrt()
    return 1.0 - rho * rho.abs()


def _parabola_vertex(t: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Abscissa of the vertex of the parabola through (t_i, r_i), i = 0..2 (rows), kept in [t_0, t_2]."""
    (t0, t1, t2), (r0, r1, r2) = t.unbind(1), r.unbind(1)
    num = (t1 - t0).square() * (r1 - r2) - (t1 - t2).square() * (r1 - r0)
    den = (t1 - t0) * (r1 - r2) - (t1 - t2) * (r1 - r0)
    vertex = torch.where(den < 0, t1 - 0.5 * num / den.clamp_max(-1e-300), t1)  # den < 0: convex
    return torch.minimum(torch.maximum(vertex, t0), t2)


def blur_per_image(outputs: torch.Tensor, originals: torch.Tensor, sigma_max: float = SIGMA_MAX,
                   chunk: int = 512) -> torch.Tensor:
    """Equivalent Gaussian blur radius σ (px) of each output w.r.t. its original: (N,) float64.

        σ̂ = argmin_σ min_{a≥0, b} ‖y − (a·G_σ∗x + b)‖²,   σ ∈ [0, sigma_max]

    i.e. the blur that, with the best per-image gain and offset (least squares over all channels
    and pixels), best explains the output; the relative residual is 1 − ρ(σ)², ρ the correlation
    of y and G_σ∗x, so we maximise ρ. σ = 0 (the identity) is a candidate: a perfect copy, or any
    a·x + b with a > 0, reads 0. Noise in y lowers ρ equally at every σ, so it does not read as blur.
    Search: a grid of step SIGMA_STEP, then twice a parabola through three residuals in t = σ²
    (the residual is quadratic in t near its minimum; around σ = 0 it is ∝ t², not ∝ σ).
    A constant original gives NaN; a constant output gives ``sigma_max`` (everything blurred
    away); outputs blurrier than ``sigma_max`` read ``sigma_max``. Computed on the CPU in float64.
    """
    if outputs.shape != originals.shape or outputs.ndim != 4:
        raise ValueError(f"blur: outputs {tuple(outputs.shape)} and originals {tuple(originals.shape)} "
                         "must both be (N, C, H, W) of the same shape")
    grid = torch.arange(0.0, sigma_max + SIGMA_STEP / 2, SIGMA_STEP, dtype=torch.float64)
    out = []
    for start in range(0, len(originals), chunk):
        x = originals[start:start + chunk].detach().to("cpu", torch.float64)
        y = outputs[start:start + chunk].detach().to("cpu", torch.float64)
        cx = _dct2(x - x.mean((1, 2, 3), keepdim=True))
        cy = _dct2(y - y.mean((1, 2, 3), keepdim=True))
        p, q, syy = (cx * cy).sum(1), cx.square().sum(1), cy.square().sum((1, 2, 3))
        r = _residuals(p, q, syy, grid)
        best = r.argmin(1)
        mid = best.clamp(1, len(grid) - 2)
        idx = torch.stack([mid - 1, mid, mid + 1], 1)
        t = _parabola_vertex(grid[idx].square(), r.gather(1, idx))
        for step in (0.02, 0.004):  # polish: a tight parabola around the current estimate
            centre = t.sqrt().clamp_min(step)[:, None]  # near 0 the triple is 0, step, 2·step
            s = centre + step * torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64)
            t = _parabola_vertex(s.square(), _residuals(p, q, syy, s))
        sigma = t.sqrt()
        sigma = torch.where(best == len(grid) - 1, torch.full_like(sigma, sigma_max), sigma)
        sigma = torch.where(syy <= 0, torch.full_like(sigma, sigma_max), sigma)
        flat = x.flatten(1).std(1) < _FLAT
        out.append(torch.where(flat, torch.full_like(sigma, math.nan), sigma))
    return torch.cat(out)


def blur_score(outputs: torch.Tensor, originals: torch.Tensor) -> float:
    """Median over images of ``blur_per_image`` (σ in px; 0 = as sharp as the originals).

    NaNs (constant originals) are ignored; ValueError if the shapes differ or all are constant.
    """
    return float(_median(_checked(blur_per_image(outputs, originals))))


def _checked(values: torch.Tensor) -> np.ndarray:
    v = values.numpy()
    if not np.isfinite(v).any():
        raise ValueError("blur: every original is constant (no detail to lose); blur is undefined")
    return v


def _median(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if len(finite) else math.nan


def _sharpness_raw(images: torch.Tensor) -> torch.Tensor:
    """Uncalibrated edge width per image: s = sqrt(E_grad / (2·E_lap)), NaN for flat images.

    E_grad = mean (∂x I)² + mean (∂y I)² (forward differences), E_lap = mean (∇²I)² (5-point
    Laplacian), summed over channels. For a step edge blurred by s the gradient profile is a
    Gaussian g of std s and ∫g'²/∫g² = 1/(2s²): the ratio reads the edge width, whatever the
    contrast, gain or offset. Added noise raises E_lap more than E_grad, so it reads sharper.
    """
    x = images.detach().to("cpu", torch.float64)
    gx, gy = x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]
    lap = (x[..., 1:-1, 2:] + x[..., 1:-1, :-2] + x[..., 2:, 1:-1] + x[..., :-2, 1:-1]
           - 4.0 * x[..., 1:-1, 1:-1])
    e_grad = (gx.square().mean((-2, -1)) + gy.square().mean((-2, -1))).sum(-1)
    e_lap = lap.square().mean((-2, -1)).sum(-1)
    raw = (e_grad / (2.0 * e_lap)).sqrt()
    return torch.where(x.flatten(1).std(1) < _FLAT, torch.full_like(raw, math.nan), raw)


def calibrate_sharpness(images: torch.Tensor, step: float = 0.25,
                        sigma_max: float = SIGMA_MAX) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The table raw → σ behind ``sharpness_per_image``; rerun it to regenerate _CALIBRATION_RAW.

    Procedure: take sharp images (the table below: 512 dSprites images,
    ``study.data.dsprites().eval_set(512, seed=1)[0]``), blur them with ``gaussian_blur`` at σ = 0,
    step, …, sigma_max, and record the median over images of ``_sharpness_raw`` at each σ; the
    pairs (median raw, σ) form a monotone table (checked). The images are an argument, so this
    module needs nothing of the data package. Raw widths: 0.39 px for the sharp (binary) data —
    the discretisation floor —, ≈ σ from 0.75 to 1.5 px, then slower than σ (2.8 at σ = 4: blurred
    small sprites stop being isolated edges).
    """
    sigmas = np.arange(0.0, sigma_max + step / 2, step)
    raw = [float(np.nanmedian(_sharpness_raw(gaussian_blur(images, s)).numpy())) for s in sigmas]
    if not np.all(np.diff(raw) > 0):
        raise RuntimeError(f"sharpness calibration is not monotone: {raw}")
    return tuple(round(r, 4) for r in raw), tuple(round(float(s), 4) for s in sigmas)


# calibrate_sharpness(512 dSprites images, seed 1): (median raw width, σ px), σ = 0…8 step 0.25
_CALIBRATION_RAW = (0.386, 0.4263, 0.5622, 0.7712, 0.9937, 1.2093, 1.4197, 1.6249, 1.8186, 1.992,
                    2.1455, 2.2793, 2.3973, 2.5023, 2.6004, 2.697, 2.7906, 2.8858, 2.983, 3.0799,
                    3.1759, 3.2749, 3.3708, 3.4646, 3.5579, 3.6408, 3.7177, 3.8055, 3.8979, 3.9952,
                    4.0943, 4.1894, 4.2875)
_CALIBRATION_SIGMA = tuple(0.25 * i for i in range(33))


def sharpness_per_image(images: torch.Tensor) -> torch.Tensor:
    """No-reference equivalent Gaussian blur σ (px) per image (N,), calibrated on dSprites.

    σ = f(s), s = ``_sharpness_raw`` and f the piecewise-linear monotone map through the
    calibration table (``calibrate_sharpness``), linearly extrapolated past its last point, 0 below
    its first (images sharper than binary dSprites). Gain/offset invariant. On dSprites it reads
    the blur applied to the data; on other content it is a relative measure (1/f textures, whose
    spectrum is not edge-like, read ≈ 0.75× their blur up to 3 px): compare samples with the
    data's own value. Pixel noise reads as sharpness (5 % noise on a 2-px blur reads 0): it suits
    decoder means, not noisy draws. NaN for flat images.
    """
    if images.ndim != 4:
        raise ValueError(f"sharpness: expected images (N, C, H, W), got shape {tuple(images.shape)}")
    raw, table = _sharpness_raw(images).numpy(), np.asarray(_CALIBRATION_RAW)
    sigma = np.interp(raw, table, _CALIBRATION_SIGMA)
    slope = (_CALIBRATION_SIGMA[-1] - _CALIBRATION_SIGMA[-2]) / (table[-1] - table[-2])
    beyond = _CALIBRATION_SIGMA[-1] + slope * (raw - table[-1])
    return torch.from_numpy(np.where(raw > table[-1], beyond, sigma))


def sharpness_px(images: torch.Tensor) -> float:
    """Median over images of ``sharpness_per_image`` (px); NaN if every image is flat."""
    return _median(sharpness_per_image(images).numpy())


def bootstrap_median_se(values, rng=None, num_bootstrap: int = 200) -> float:
    """Bootstrap standard error of the median of the finite ``values`` (NaN if fewer than 2);
    ``rng``: a numpy Generator, a seed or None (seed 0)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if len(v) < 2:
        return math.nan
    rng = np.random.default_rng(0 if rng is None else rng)
    return bootstrap_se(lambda rows: float(np.median(v[rows])), len(v), rng, num_bootstrap)


def blur_with_se(outputs: torch.Tensor, originals: torch.Tensor, rng=None,
                 num_bootstrap: int = 200) -> tuple[float, float]:
    """(``blur_score``, its bootstrap SE over images), from one pass of ``blur_per_image``."""
    v = _checked(blur_per_image(outputs, originals))
    return _median(v), bootstrap_median_se(v, rng, num_bootstrap)


def sharpness_with_se(images: torch.Tensor, rng=None, num_bootstrap: int = 200) -> tuple[float, float]:
    """(``sharpness_px``, its bootstrap SE over images)."""
    v = sharpness_per_image(images).numpy()
    return _median(v), bootstrap_median_se(v, rng, num_bootstrap)
