"""SmallNORB (LeCun et al. 2004) from its official binary matrix files, with disentanglement_lib's
factors and preprocessing (``disentanglement_lib/data/ground_truth/norb.py``).

Files (gunzipped, as distributed at https://cs.nyu.edu/~ylclab/data/norb-v1.0-small/), looked for
in ``<root>/small_norb/`` (disentanglement_lib's layout), then in ``<root>``:
``smallnorb-5x46789x9x18x6x2x96x96-training-{dat,cat,info}.mat`` and
``smallnorb-5x01235x9x18x6x2x96x96-testing-{dat,cat,info}.mat``.

The NORB binary matrix format: little-endian int32 magic number (0x1E3D4C55 unsigned bytes,
0x1E3D4C54 int32), int32 ndim, max(3, ndim) int32 dimensions, then the data in C order. ``dat``:
bytes (24300, 2, 96, 96), stereo pairs; ``cat``: int32 (24300,), category 0–4; ``info``: int32
(24300, 4): instance 0–9, elevation 0–8, azimuth 0, 2, …, 34, lighting 0–5. The sizes, magic
numbers and the byte count against the header are checked; a wrong file is refused by name.

As disentanglement_lib: both files together (48,600 images: 5 categories × 10 instances × 9
elevations × 18 azimuths × 6 lightings, each combination exactly once — checked), the first image
of each stereo pair, resized 96 → 64 by PIL with LANCZOS (its ``Image.ANTIALIAS``) and divided by
255; the azimuth index is the azimuth / 2. Factors: category 5, elevation 9, azimuth 18, lighting
6; the instance is not a factor but nuisance, drawn uniformly per observation (from the batch
generator, the eval-set seed, or a stream seeded by the factors, as the dSprites variants draw
theirs). disentanglement_lib maps the byte magic to int8 and leaves the conversion to PIL; the
format says unsigned bytes, and they are read as such here. The 64×64 images are cached once
(:mod:`train.data.official`): (48600, 1, 64, 64) uint8, 199 MB, in grid order (category, instance,
elevation, azimuth, lighting). ``num_examples`` is the 48,600 images (the N of β-TCVAE). The
default likelihood is Gaussian (grey levels); disentanglement_lib trains with Bernoulli
(``trial.likelihood: bernoulli`` follows it).
"""

from __future__ import annotations

import os
import struct

import numpy as np
import torch

from train.data.official import CachedGroundTruth, locate, refuse, resize_lanczos
from train.data.variants import EVAL_SALT, factor_stream, generator_from

CHUNKS = ("5x46789x9x18x6x2x96x96-training", "5x01235x9x18x6x2x96x96-testing")
MAGIC = {0x1E3D4C55: np.dtype(np.uint8), 0x1E3D4C54: np.dtype("<i4")}


def file_name(chunk: str, part: str) -> str:
    return f"smallnorb-{chunk}-{part}.mat"


def read_matrix(path: str) -> np.ndarray:
    """A NORB binary matrix, memory-mapped read-only; refused if the header or size is wrong."""
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        head = handle.read(8 + 4 * 8)
    if len(head) < 20:
        raise refuse(path, f"is {size} bytes, too short for a NORB binary matrix header", "SmallNORB")
    magic, ndim = struct.unpack("<ii", head[:8])
    if magic not in MAGIC:
        raise refuse(path, f"magic number {magic:#x} is not a NORB byte (0x1e3d4c55) or int32 (0x1e3d4c54) "
                     f"matrix", "SmallNORB")
    if not 1 <= ndim <= 8 or len(head) < 8 + 4 * max(3, ndim):
        raise refuse(path, f"header says {ndim} dimensions", "SmallNORB")
    offset = 8 + 4 * max(3, ndim)
    dims = struct.unpack(f"<{ndim}i", head[8:8 + 4 * ndim])
    dtype = MAGIC[magic]
    if min(dims) < 0 or size != offset + int(np.prod(dims)) * dtype.itemsize:
        raise refuse(path, f"holds {size - offset} data bytes, its header says {dims} {dtype} "
                     f"({int(np.prod(dims)) * dtype.itemsize} bytes)", "SmallNORB")
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=dims)


def _check_shapes(arrays: tuple[np.ndarray, ...], paths: list[str]) -> None:
    """``dat`` (n, 2, side, side) bytes, ``cat`` (n,) int32, ``info`` (n, 4) int32 for one chunk."""
    n, side = len(arrays[0]), arrays[0].shape[-1]
    expected = (((n, 2, side, side), np.uint8), ((n,), np.int32), ((n, 4), np.int32))
    for array, path, (shape, dtype) in zip(arrays, paths, expected, strict=True):
        if array.shape != shape or array.dtype != dtype:
            raise refuse(path, f"is a {array.shape} {array.dtype} matrix, expected {shape} {np.dtype(dtype)} "
                         f"(n = {n} images in the -dat file)", "SmallNORB")


class SmallNORB(CachedGroundTruth):
    """SmallNORB at 64×64 with disentanglement_lib's factors (module docstring)."""

    name = record_name = "smallnorb"
    num_channels = 1
    default_likelihood = "gaussian"
    factor_names = ("category", "elevation", "azimuth", "lighting")
    factor_sizes = (5, 9, 18, 6)
    #: Instances per category: nuisance, not a factor.
    instances = 10
    folder = "small_norb"
    source = "https://cs.nyu.edu/~ylclab/data/norb-v1.0-small/"

    @property
    def grid(self) -> tuple[int, ...]:
        """Sizes of (category, instance, elevation, azimuth, lighting): the cache's row order."""
        category, *view = self.factor_sizes
        return (category, self.instances, *view)

    @property
    def num_examples(self) -> int:
        """The number of images (every factor combination × every instance)."""
        return int(np.prod(self.grid))

    def _open(self) -> np.ndarray:
        names = [file_name(chunk, part) for chunk in CHUNKS for part in ("dat", "cat", "info")]
        folder = locate(self.root, self.folder, names, "SmallNORB", self.source)
        paths = [os.path.join(folder, name) for name in names]
        dats, labels = [], []
        for chunk in range(len(CHUNKS)):
            dat, cat, info = (read_matrix(p) for p in paths[3 * chunk:3 * chunk + 3])
            _check_shapes((dat, cat, info), paths[3 * chunk:3 * chunk + 3])
            dats.append(dat)
            labels.append(self._labels(cat, info, paths[3 * chunk + 2]))
        source = self._grid_rows(np.concatenate(labels), paths[2], paths[5])
        starts = np.cumsum([0] + [len(d) for d in dats])

        def decode(index: np.ndarray) -> np.ndarray:
            rows = source[index]
            chunk = np.searchsorted(starts, rows, side="right") - 1
            return resize_lanczos(np.stack([dats[c][r - starts[c], 0] for c, r in zip(chunk, rows, strict=True)]))

        return self._cached(paths, {"resize": "camera 0, PIL LANCZOS to 64x64", "grid": self.grid},
                            (1, 64, 64), self.num_examples, decode)

    def _labels(self, cat: np.ndarray, info: np.ndarray, info_path: str) -> np.ndarray:
        """(n, 5) category, instance, elevation, azimuth index, lighting; refused if out of range."""
        labels = np.column_stack([cat, info]).astype(np.int64)
        if bool((labels[:, 3] % 2).any()):
            raise refuse(info_path, "holds an odd azimuth (the official ones are 0, 2, …, 34)", "SmallNORB")
        labels[:, 3] //= 2
        for k, (name, size) in enumerate(zip(("category", "instance", "elevation", "azimuth / 2", "lighting"),
                                             self.grid, strict=True)):
            bad = np.flatnonzero((labels[:, k] < 0) | (labels[:, k] >= size))
            if len(bad):
                raise refuse(info_path if k else info_path.replace("-info.", "-cat."),
                             f"{name} {labels[bad[0], k]} at row {bad[0]} is outside 0…{size - 1}", "SmallNORB")
        return labels

    def _grid_rows(self, labels: np.ndarray, *info_paths: str) -> np.ndarray:
        """For each grid row, the row of the concatenated files holding it; every combination once."""
        index = np.ravel_multi_index(labels.T, self.grid)
        counts = np.bincount(index, minlength=self.num_examples)
        if not (counts == 1).all():
            first = int(np.flatnonzero(counts != 1)[0])
            raise refuse(" and ".join(info_paths), f"the labels do not cover the grid {'×'.join(map(str, self.grid))} "
                         f"once each: {int((counts == 0).sum())} combinations missing, {int((counts > 1).sum())} "
                         f"repeated, e.g. {list(np.unravel_index(first, self.grid))} "
                         f"{int(counts[first])} times", "SmallNORB")
        source = np.empty(self.num_examples, dtype=np.int64)
        source[index] = np.arange(len(labels))
        return source

    def rows(self, factors: np.ndarray, generator: torch.Generator | None = None) -> np.ndarray:
        """Cache rows of ``factors`` with an instance drawn uniformly for each."""
        if generator is None:
            generator = factor_stream(self.name, self.factors_to_index(factors))
        instance = torch.randint(0, self.instances, (len(factors),), generator=generator,
                                 device=generator.device).cpu().numpy()
        category, *view = np.asarray(factors, dtype=np.int64).T
        return np.ravel_multi_index((category, instance, *view), self.grid)

    def train_batch(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """Uniform random factors, then the instances, both drawn from ``generator``."""
        cols = [torch.randint(0, s, (batch_size,), generator=generator, device=generator.device)
                for s in self.factor_sizes]
        return self.observations(torch.stack(cols, dim=1), generator)

    def eval_set(self, n: int, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
        """Fixed factors for ``seed`` with instances from a stream of their own derived from it."""
        factors = self.sample_factors(n, np.random.default_rng([seed, 0xE7A1]))
        return self.observations(factors, generator_from([seed, 0xE7A1, EVAL_SALT])), factors
