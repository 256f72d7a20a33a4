"""Probe images for the blur and shape-error tests and benchmarks/blur_probes.py: textures, and
the geometric and filtering changes a score should or should not read as blur.

Each probe is (name, output, expected blur): the expected value is the blur a measure of lost
detail should read (σ for a Gaussian blur, 0 for a sharp image with geometric errors, negative
for sharpening, None where no single value is right).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter1d

from analysis.metrics import gaussian_blur

BLUR_SIGMAS = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0)


def pink_noise(n: int, size: int = 64, seed: int = 0) -> torch.Tensor:
    """1/f-amplitude-spectrum noise images (natural-image statistics), each scaled to [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    spectrum = torch.fft.rfft2(torch.randn(n, 1, size, size, generator=g, dtype=torch.float64))
    f = torch.fft.fftfreq(size, dtype=torch.float64)[:, None].square()
    f = (f + torch.fft.rfftfreq(size, dtype=torch.float64)[None, :].square()).sqrt()
    x = torch.fft.irfft2(spectrum * torch.where(f > 0, 1 / f.clamp_min(1e-12), 0.0), s=(size, size))
    lo, hi = x.amin((1, 2, 3), keepdim=True), x.amax((1, 2, 3), keepdim=True)
    return ((x - lo) / (hi - lo)).float()


def random_shapes(n: int, size: int = 64, seed: int = 0) -> torch.Tensor:
    """Grey background with 3–6 hard-edged ellipses/rectangles of random grey levels."""
    r = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] + 0.5
    out = np.empty((n, 1, size, size), np.float32)
    for i in range(n):
        img = np.full((size, size), r.uniform(0, 1))
        for _ in range(r.integers(3, 7)):
            cy, cx = r.uniform(0, size, 2)
            a, b = r.uniform(4, 16, 2)
            ellipse = r.random() < 0.5
            mask = (((yy - cy) / a) ** 2 + ((xx - cx) / b) ** 2 <= 1) if ellipse else \
                (abs(yy - cy) <= a) & (abs(xx - cx) <= b)
            img[mask] = r.uniform(0, 1)
        out[i, 0] = img
    return torch.from_numpy(out)


def shift(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Translate by (dy, dx) px (circularly: sprites stay in the frame)."""
    return torch.roll(x, (dy, dx), (-2, -1))


def dilate(x: torch.Tensor) -> torch.Tensor:
    """Grey dilation by one pixel (3 × 3 max filter)."""
    return F.max_pool2d(x, 3, 1, 1)


def erode(x: torch.Tensor) -> torch.Tensor:
    """Grey erosion by one pixel (3 × 3 min filter)."""
    return -F.max_pool2d(-x, 3, 1, 1)


def threshold_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """A sharp image with rounded corners: the σ-blurred image thresholded half-way up its range."""
    b = gaussian_blur(x, sigma)
    mid = 0.5 * (x.amax((1, 2, 3), keepdim=True) + x.amin((1, 2, 3), keepdim=True))
    return (b > mid).to(x.dtype)


def unsharp(x: torch.Tensor, amount: float = 1.0, sigma: float = 1.0) -> torch.Tensor:
    """Unsharp masking, x + amount·(x − G_σ∗x): sharpening with ringing (overshoot at edges)."""
    return x + amount * (x - gaussian_blur(x, sigma))


def blur_one_axis(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of σ along the horizontal axis only (mirrored boundary)."""
    return torch.from_numpy(gaussian_filter1d(x.numpy(), sigma, axis=-1, mode="reflect"))


def probes(x: torch.Tensor, other: torch.Tensor, seed: int = 0):
    """(name, output, expected blur) for originals ``x``; ``other``: different sharp images."""
    g = torch.Generator().manual_seed(seed)
    for s in BLUR_SIGMAS:
        yield f"Gaussian blur σ {s:g}", gaussian_blur(x, s), s
    yield "0.5·x + 0.25, blur σ 2", 0.5 * gaussian_blur(x, 2.0) + 0.25, 2.0
    for d in (1, 2, 3):
        yield f"shift {d} px", shift(x, 0, d), 0.0
    yield "shift 1 px right, 1 px up", shift(x, -1, 1), 0.0
    yield "dilate 1 px (3×3 max)", dilate(x), 0.0
    yield "erode 1 px (3×3 min)", erode(x), 0.0
    yield "another sharp image", other, 0.0
    yield "threshold(blur σ 2): rounded corners", threshold_blur(x, 2.0), 0.0
    yield "blur σ 1.5 after a 2-px shift", gaussian_blur(shift(x, 0, 2), 1.5), 1.5
    yield "blur σ 2 after a 1-px dilation", gaussian_blur(dilate(x), 2.0), 2.0
    yield "sharpen (unsharp mask, ringing)", unsharp(x), None
    yield "blur σ 2 along one axis", blur_one_axis(x, 2.0), None
    yield "collapsed: the mean image", x.mean(0, keepdim=True).expand_as(x).clone(), None
    yield "+ noise 0.05", x + 0.05 * torch.randn(x.shape, generator=g), None
    yield "blur σ 2 + noise 0.05", gaussian_blur(x, 2.0) + 0.05 * torch.randn(x.shape, generator=g), None
