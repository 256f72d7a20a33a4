"""Procedural dSprites (Matthey et al. 2017), generated on the fly: no files, no download.

A look-alike, not the official release: the same factor grid, rendered here, so its pixels differ
from the official ones. It is recorded as ``dsprites-procedural`` (MLflow ``dataset`` tag, report),
so its scores are not set beside published dSprites numbers.

Factors, in the official order and sizes: color (1), shape (3: square, ellipse, heart), scale
(6: linspace(0.5, 1, 6)), orientation (40: linspace(0, 2π, 40), so 0 and 2π both appear and render
identically), posX (32), posY (32): 737,280 combinations, indexed row-major with posY fastest.
Images are 64×64, binary, a white shape on black.

Geometry (measured from the official animation; docs/architecture.md, "Datasets"): the square's side is 20·scale px; the
ellipse at orientation 0 is wide, 26×14 px at scale 1; the heart is lobes-up, about 20×17 px at
scale 1. posX moves the shape right (columns), posY moves it down (rows). The centre of the shape
runs from 15.5 to 47.5 (0-indexed pixel coordinates) as pos goes 0 → 1: position index k is a
shift of round(32·k/31) whole pixels, so the 32 positions span 32 px, with one 2-px step in the
middle, and every position is exactly reachable by translation.

Implementation: the 3·6·40 = 720 base sprites are rasterised once (4×4 supersampling of the
analytic shape, coverage ≥ ½ → white) into 32×32 windows centred on the window centre, stored as
one uint8 tensor on the device. Image (shiftY, shiftX) shows pixel (row − shiftY, col − shiftX) of
its sprite's window, black outside it. Each sprite is stored once in the middle of a black
96×96 canvas, and the image is the 64×64 view of that canvas starting at (32 − shiftY, 32 − shiftX):
the canvases' strided view of every such start (no copy) is indexed by (sprite, start row, start
column), so a batch of observations is one copy of whole images — 3-4× faster than gathering
every pixel (benchmarks/notes/2026-11-24-metric-uncertainty.md). Because a window shifted by at
most 32 px stays inside the 64-px image, nothing ever wraps around.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from analysis.schema import PROCEDURAL_SUFFIX
from train.data.base import GroundTruthData

WINDOW = 32
SUPERSAMPLE = 4
SHAPES = ("square", "ellipse", "heart")
SCALES = np.linspace(0.5, 1.0, 6)
ORIENTATIONS = np.linspace(0.0, 2.0 * math.pi, 40)
POSITIONS = np.linspace(0.0, 1.0, 32)
#: Pixel shift of each position index: 32 positions over a 32-pixel span (centre 15.5 → 47.5).
SHIFTS = np.rint(np.arange(32) * 32.0 / 31.0).astype(np.int64)


def _heart_inside(x: np.ndarray, y_up: np.ndarray) -> np.ndarray:
    """The classic heart curve (x² + y² − 1)³ − x²y³ ≤ 0 (lobes up), in its own units."""
    return (x * x + y_up * y_up - 1.0) ** 3 - x * x * y_up ** 3 <= 0.0


# Bounding box of the heart curve in its own units (x ∈ ±1.139, y ∈ [−1, 1.236]), measured once
# on a fine grid; used to scale it to 20 × 17 px at scale 1 and to centre its box.
_HEART_HALF_W, _HEART_Y_MIN, _HEART_Y_MAX = 1.1390, -1.0, 1.2360


def _inside(shape: str, u: np.ndarray, v: np.ndarray, scale: float) -> np.ndarray:
    """Is the point (u right, v down), in the sprite's own rotated frame in px, inside the shape?"""
    if shape == "square":
        half = 10.0 * scale
        return (np.abs(u) <= half) & (np.abs(v) <= half)
    if shape == "ellipse":
        return (u / (13.0 * scale)) ** 2 + (v / (7.0 * scale)) ** 2 <= 1.0
    sx = 20.0 * scale / (2 * _HEART_HALF_W)
    sy = 17.0 * scale / (_HEART_Y_MAX - _HEART_Y_MIN)
    y_mid = 0.5 * (_HEART_Y_MAX + _HEART_Y_MIN)
    return _heart_inside(u / sx, -v / sy + y_mid)


def render_sprite(shape: str, scale: float, orientation: float) -> np.ndarray:
    """One base sprite: a binary (32, 32) uint8 window with the shape centred at (16, 16)."""
    offsets = (np.arange(SUPERSAMPLE) + 0.5) / SUPERSAMPLE
    coords = (np.arange(WINDOW)[:, None] + offsets[None, :]).reshape(-1) - WINDOW / 2.0
    y, x = np.meshgrid(coords, coords, indexing="ij")
    c, s = math.cos(orientation), math.sin(orientation)
    u = c * x + s * y  # rotate the sampling grid by −θ: the shape turns by +θ
    v = -s * x + c * y
    inside = _inside(shape, u, v, float(scale)).astype(np.float32)
    coverage = inside.reshape(WINDOW, SUPERSAMPLE, WINDOW, SUPERSAMPLE).mean(axis=(1, 3))
    return (coverage >= 0.5).astype(np.uint8)


@functools.lru_cache(maxsize=1)
def base_sprites() -> np.ndarray:
    """All 720 base sprites, (3, 6, 40, 32, 32) uint8, rendered once per process."""
    out = np.zeros((len(SHAPES), len(SCALES), len(ORIENTATIONS), WINDOW, WINDOW), dtype=np.uint8)
    for i, shape in enumerate(SHAPES):
        for j, scale in enumerate(SCALES):
            for k, theta in enumerate(ORIENTATIONS):
                out[i, j, k] = render_sprite(shape, scale, theta)
    return out


class DSprites(GroundTruthData):
    """The dSprites ground-truth dataset (procedural look-alike), rendered by gather on ``device``."""

    name = "dsprites"
    record_name = f"{name}{PROCEDURAL_SUFFIX}"  # "dsprites-procedural"
    num_channels = 1
    default_likelihood = "bernoulli"
    factor_names = ("color", "shape", "scale", "orientation", "posX", "posY")
    factor_sizes = (1, 3, 6, 40, 32, 32)

    def __init__(self, device: torch.device | str | None = None):
        super().__init__(device)
        sprites = torch.from_numpy(base_sprites().reshape(-1, WINDOW, WINDOW))
        canvas = torch.zeros(len(sprites), 3 * WINDOW, 3 * WINDOW, dtype=torch.uint8)
        canvas[:, WINDOW:2 * WINDOW, WINDOW:2 * WINDOW] = sprites
        self._canvas = canvas.to(self.device)
        #: (sprite, start row, start column, 64, 64): every 64×64 view of every canvas, no copy
        self._views = self._canvas.unfold(1, 2 * WINDOW, 1).unfold(2, 2 * WINDOW, 1)
        self._starts = torch.from_numpy(WINDOW - SHIFTS).to(self.device)

    def observations(self, factors) -> torch.Tensor:
        """Images (n, 1, 64, 64) float32 in {0, 1} for factor vectors (n, 6) (numpy or torch)."""
        f = torch.as_tensor(np.asarray(factors) if not torch.is_tensor(factors) else factors,
                            dtype=torch.long, device=self.device)
        self._check_factors(f)
        sprite = (f[:, 1] * len(SCALES) + f[:, 2]) * len(ORIENTATIONS) + f[:, 3]
        return self._views[sprite, self._starts[f[:, 5]], self._starts[f[:, 4]]].unsqueeze(1).float()


@functools.lru_cache(maxsize=8)
def dsprites(device: torch.device | str | None = None) -> DSprites:
    """The procedural dSprites dataset on ``device`` (cached: sprites are rendered once)."""
    return DSprites(device)
