"""Three-channel dSprites variants of disentanglement_lib (Locatello et al. 2019), generated here.

Each variant renders our procedural dSprites sprite (same factors, grid, order and geometry as
:mod:`train.data.dsprites`, so every metric works unchanged) and then paints it with *nuisance*
randomness that is not a factor, following ``disentanglement_lib/data/ground_truth/dsprites.py``:

* ``color-dsprites`` (ColorDSprites): the white sprite times a colour drawn per sample, each
  channel uniform in [0.5, 1); the background stays black.
* ``noisy-dsprites`` (NoisyDSprites): a background of uniform [0, 1) noise drawn per pixel and
  channel; sprite pixels are 1 (``min(sprite + noise, 1)``).
* ``textured-dsprites`` (stands in for ScreamDSprites): a random 64×64 crop of a texture, mixed
  with a per-sample colour, ``background = (crop + u) / 2`` with ``u`` uniform in [0, 1) per
  channel; sprite pixels are the inverted background ``1 − background``. disentanglement_lib crops
  Munch's painting "The Scream" (a JPEG it reads from disk); that file cannot be downloaded here,
  so a fixed-seed smooth colourful procedural texture of 256×256 px takes its place.

Randomness: ``train_batch(n, generator)`` draws the nuisance from ``generator`` (after the
factors); ``eval_set(n, seed)`` from a stream derived from ``seed``; ``observations(factors)``
without a generator from a CPU stream seeded by a hash of the factor array, so it is a pure
function (metrics are reproducible) while every row of a call, and every other factor array
(e.g. the two halves of a BetaVAE pair), gets its own independent draw. Streams not given by the
caller are drawn on the CPU and moved, so eval sets are the same on every device.

Defaults: Gaussian likelihood, as for CelebA (the images are continuous RGB, not binary);
disentanglement_lib trains every dataset with a Bernoulli likelihood — set ``trial.likelihood``
to bernoulli to follow it. Records: ``<name>-procedural``, like dSprites.
"""

from __future__ import annotations

import functools
import hashlib

import numpy as np
import torch

from analysis.schema import PROCEDURAL_SUFFIX
from train.data.dsprites import DSprites

TEXTURE_SIZE = 256
TEXTURE_SEED = 1893  # the year of The Scream; any fixed seed would do
EVAL_SALT = 0x5EED


def generator_from(words) -> torch.Generator:
    """A CPU torch generator seeded from a sequence of non-negative integers."""
    seed = int(np.random.SeedSequence(list(words)).generate_state(1, dtype=np.uint64)[0] >> 1)
    return torch.Generator().manual_seed(seed)


def factor_stream(name: str, index: np.ndarray) -> torch.Generator:
    """The nuisance stream of a call without a generator: seeded by the dataset name and the grid
    indices of the factors, so the same factors give the same images."""
    digest = hashlib.blake2b(name.encode() + np.asarray(index).astype("<i8").tobytes(), digest_size=8).digest()
    return generator_from([int.from_bytes(digest, "little")])


def _uniform(shape, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """Uniform [0, 1) float32 draws on the generator's device, moved to ``device``."""
    return torch.rand(shape, generator=generator, device=generator.device).to(device)


class NuisanceDSprites(DSprites):
    """Common part: dSprites masks painted with per-sample nuisance randomness, 3 channels."""

    num_channels = 3
    default_likelihood = "gaussian"

    def paint(self, masks: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Colour binary sprite masks (n, 1, 64, 64) into RGB images (n, 3, 64, 64) in [0, 1]."""
        raise NotImplementedError

    def observations(self, factors, generator: torch.Generator | None = None) -> torch.Tensor:
        """Images (n, 3, 64, 64) float32 in [0, 1]; nuisance from ``generator`` or, if None, from
        a stream seeded by the factor array (same factors → same images)."""
        masks = self.masks(factors)
        if generator is None:
            generator = factor_stream(self.name, self.factors_to_index(_as_numpy(factors)))
        return self.paint(masks, generator)

    def masks(self, factors) -> torch.Tensor:
        """The binary sprites (n, 1, 64, 64) of ``factors``: the procedural renderer's."""
        return super().observations(factors)

    def train_batch(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """Uniform random factors, then the nuisance, both drawn from ``generator``."""
        cols = [torch.randint(0, s, (batch_size,), generator=generator, device=generator.device)
                for s in self.factor_sizes]
        return self.observations(torch.stack(cols, dim=1).to(self.device), generator)

    def eval_set(self, n: int, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
        """A fixed evaluation set: the factors of dSprites' eval set for ``seed``, painted with a
        nuisance stream of its own derived from ``seed``."""
        factors = self.sample_factors(n, np.random.default_rng([seed, 0xE7A1]))
        return self.observations(factors, generator_from([seed, 0xE7A1, EVAL_SALT])), factors


def _as_numpy(factors) -> np.ndarray:
    return factors.cpu().numpy() if torch.is_tensor(factors) else np.asarray(factors)


class ColorDSprites(NuisanceDSprites):
    """dSprites with the sprite in a random colour per sample (channels uniform in [0.5, 1))."""

    name = "color-dsprites"
    record_name = f"{name}{PROCEDURAL_SUFFIX}"

    def paint(self, masks, generator):
        colour = 0.5 + 0.5 * _uniform((len(masks), 3, 1, 1), generator, self.device)
        return masks * colour


class NoisyDSprites(NuisanceDSprites):
    """dSprites on a uniform-noise background (per pixel and channel); sprite pixels are 1."""

    name = "noisy-dsprites"
    record_name = f"{name}{PROCEDURAL_SUFFIX}"

    def paint(self, masks, generator):
        noise = _uniform((len(masks), 3, 64, 64), generator, self.device)
        return torch.maximum(masks, noise)  # = min(mask + noise, 1) for a binary mask


@functools.lru_cache(maxsize=1)
def texture() -> np.ndarray:
    """The fixed background texture, (3, 256, 256) float32 in [0, 1]: smooth colourful swirls.

    Per channel, a sum of 8 random plane waves (1–6 cycles across the image) whose phase is
    warped by 3 more waves, normalised to [0, 1]: smooth bands of varying colour and direction,
    with features of 20–250 px, so 64×64 crops differ from one another like painting crops do.
    """
    rng = np.random.default_rng(TEXTURE_SEED)
    y, x = np.meshgrid(np.arange(TEXTURE_SIZE), np.arange(TEXTURE_SIZE), indexing="ij")
    p = np.stack([x, y]) / TEXTURE_SIZE * 2 * np.pi  # (2, H, W), one period per image side
    out = np.empty((3, TEXTURE_SIZE, TEXTURE_SIZE))
    for c in range(3):
        warp = sum(1.5 * np.sin(np.tensordot(rng.uniform(-2, 2, 2), p, 1) + rng.uniform(0, 2 * np.pi))
                   for _ in range(3))
        waves = sum(np.sin(np.tensordot(rng.uniform(-6, 6, 2), p, 1) + warp + rng.uniform(0, 2 * np.pi))
                    for _ in range(8))
        out[c] = (waves - waves.min()) / (waves.max() - waves.min())
    return out.astype(np.float32)


class TexturedDSprites(NuisanceDSprites):
    """Stand-in for ScreamDSprites: background = (random texture crop + random colour) / 2, sprite
    = inverted background. A procedural texture replaces "The Scream", which is not available here."""

    name = "textured-dsprites"
    record_name = f"{name}{PROCEDURAL_SUFFIX}"

    def __init__(self, device: torch.device | str | None = None):
        super().__init__(device)
        self._texture = torch.from_numpy(texture()).to(self.device)
        self._offsets = torch.arange(64, device=self.device)

    def paint(self, masks, generator):
        n, (height, width) = len(masks), self._texture.shape[1:]  # top-left in [0, H − 64), as randint(0, H − 64)
        top = torch.randint(0, height - 64, (n,), generator=generator, device=generator.device).to(self.device)
        left = torch.randint(0, width - 64, (n,), generator=generator, device=generator.device).to(self.device)
        shift = _uniform((n, 3, 1, 1), generator, self.device)
        rows = (top[:, None] + self._offsets)[:, :, None]  # (n, 64, 1)
        cols = (left[:, None] + self._offsets)[:, None, :]  # (n, 1, 64)
        crops = self._texture[:, rows, cols].permute(1, 0, 2, 3)  # (n, 3, 64, 64)
        background = (crops + shift) / 2
        return torch.where(masks.bool(), 1 - background, background)
