"""Ground-truth datasets from their official files, decoded once into a shared memory-mapped cache.

The common part of disentanglement_lib's datasets read from ``--data-root``: the official dSprites
``.npz`` here; SmallNORB (:mod:`train.data.smallnorb`), Cars3D (:mod:`train.data.cars3d`) and
scream-dSprites (:mod:`train.data.scream`) build on it. Each source is checked (names, shapes,
dtypes, values, factor order) and decoded once into a uint8 cache in the place and the way of the
CelebA cache (:mod:`train.data.image_cache`: ``<data root>/.betasweep-cache`` or
``$BETASWEEP_CACHE_DIR``, keyed by the source files' sizes and mtimes, written atomically under a
lock, so the trials of a node decode once and map one file); a batch is then a gather of its rows.
A file that is not the official release is refused with :class:`DatasetFileError`, naming the file
and what is wrong.

dSprites (Matthey et al. 2017), ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`` looked for in
``<root>/dsprites/`` (disentanglement_lib's layout), then in ``<root>`` itself. Its arrays:
``imgs`` uint8 0/1 (737280, 64, 64), ``latents_classes`` int64 (737280, 6) and ``latents_values``
float64 (737280, 6), plus a pickled ``metadata`` that is never loaded (a downloaded file is never
unpickled: arrays are read with ``allow_pickle=False`` or from their raw ``.npy`` bytes; an array
of Python objects is refused). The file is compressed (26 MB for 3.0 GB of pixels), so ``imgs`` is
streamed out of the zip once, checked to be 0/1 and stored bit-packed (512 bytes per image: a
377 MB cache instead of 3.0 GB); ``latents_classes`` must be the factor grid in row-major order,
posY fastest — the order of :meth:`GroundTruthData.factors_to_index` that the metrics use. It is
recorded as ``dsprites``, the procedural look-alike (no ``--data-root``) as ``dsprites-procedural``.
"""

from __future__ import annotations

import os
import zipfile

import numpy as np
import torch

from train.data.base import GroundTruthData
from train.data.dsprites import DSprites
from train.data.folders import DatasetNotFoundError
from train.data.image_cache import cache_folder, cached_images


class DatasetFileError(DatasetNotFoundError):
    """A dataset file is there but is not the official release; the message names the file and
    what is wrong with it."""


def refuse(path: str, problem: str, dataset: str) -> DatasetFileError:
    """The error for a file that is not what ``dataset`` expects."""
    return DatasetFileError(f"data_root: {path}: {problem}; is it the official {dataset} file?")


def locate(root: str, folder: str, names: list[str], dataset: str, source: str) -> str:
    """The folder holding all of ``names``: ``<root>/<folder>`` (disentanglement_lib's layout),
    else ``root`` itself; the error names both places and where to download the files."""
    places = (os.path.join(root, folder), root)
    for place in places:
        if all(os.path.isfile(os.path.join(place, name)) for name in names):
            return place
    zipped = [n for n in names for p in places if os.path.isfile(os.path.join(p, n + ".gz"))]
    hint = f" (found {', '.join(sorted(set(zipped)))} as .gz: gunzip them)" if zipped else ""
    raise DatasetNotFoundError(
        f"data_root: {dataset} files not found: expected {', '.join(names)} in {places[0]} or in "
        f"{places[1]}{hint}. Download them by hand from {source} (this machine cannot fetch them) "
        f"and pass --data-root to the folder that holds them or its parent.")


def resize_lanczos(images: np.ndarray) -> np.ndarray:
    """uint8 images (n, H, W) or (n, H, W, 3) resized to 64×64 by PIL with LANCZOS (disentanglement_lib's
    ``Image.ANTIALIAS``), rounded to uint8 by PIL: (n, C, 64, 64)."""
    from PIL import Image

    out = np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(image)).resize((64, 64), Image.Resampling.LANCZOS))
                    for image in images])
    return out[:, None] if out.ndim == 3 else out.transpose(0, 3, 1, 2)


class CachedGroundTruth(GroundTruthData):
    """Common part: images decoded once into a uint8 cache (rows in :meth:`rows` order), mapped."""

    #: How the files are found under the data root, and where to download them.
    folder = ""
    source = ""

    def __init__(self, root: str, device=None, cache_dir: str | None = None):
        super().__init__(device)
        self.root, self.cache_dir = root, cache_dir
        self.images = self._open()

    def _open(self) -> np.ndarray:
        """Find and check the files, then map the cache (building it first if needed)."""
        raise NotImplementedError

    def _cached(self, sources: list[str], params: dict, shape: tuple, count: int, decode) -> np.ndarray:
        folder = cache_folder(self.root, self.cache_dir)
        return cached_images(self.name, sources, {"dataset": self.name, **params}, shape, count, decode, folder)

    def rows(self, factors: np.ndarray, generator: torch.Generator | None = None) -> np.ndarray:
        """Cache rows of the images of ``factors`` (n, k): the grid's row-major index by default."""
        return self.factors_to_index(factors)

    def pixels(self, rows: np.ndarray) -> torch.Tensor:
        """Images ``rows`` of the cache as float (n, C, 64, 64) in [0, 1] on the device."""
        return torch.from_numpy(np.asarray(self.images[rows])).to(self.device).float() / 255.0

    def observations(self, factors, generator: torch.Generator | None = None) -> torch.Tensor:
        """Images (n, C, 64, 64) float32 in [0, 1] on the device: the file's images of ``factors``."""
        f = factors.cpu() if torch.is_tensor(factors) else torch.as_tensor(np.asarray(factors))
        f = f.long()
        self._check_factors(f)
        return self.pixels(self.rows(f.numpy(), generator))

    def __getstate__(self):
        """Pickle the paths, not the mapped cache (reopened on unpickling)."""
        return {k: v for k, v in self.__dict__.items() if k != "images"}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.images = self._open()


def npz_headers(path: str, dataset: str) -> dict[str, tuple[tuple, bool, np.dtype]]:
    """Shape, Fortran order and dtype of every ``.npy`` member of an ``.npz``, read from the headers
    only (nothing is decompressed beyond them and nothing is unpickled)."""
    if not zipfile.is_zipfile(path):
        raise refuse(path, "is not an .npz (zip) file", dataset)
    out = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                continue
            with archive.open(info) as handle:
                out[info.filename.removesuffix(".npy")] = _npy_header(handle)
    return out


def _npy_header(handle) -> tuple[tuple, bool, np.dtype]:
    """Read a ``.npy`` header from ``handle``, leaving it at the first byte of the data."""
    version = np.lib.format.read_magic(handle)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    return read(handle)


def check_npz_arrays(path: str, headers: dict, expected: dict[str, tuple[tuple, np.dtype]], dataset: str) -> None:
    """Every array of ``expected`` is in the file, C-ordered, with its shape and dtype; an array of
    Python objects is refused (loading it would unpickle it)."""
    for key, (shape, dtype) in expected.items():
        if key not in headers:
            raise refuse(path, f"holds no array {key!r} (arrays: {', '.join(headers) or 'none'})", dataset)
        got_shape, fortran, got_dtype = headers[key]
        if got_dtype.hasobject:
            raise refuse(path, f"array {key!r} holds Python objects (dtype object), which loading would "
                         f"unpickle; refused: downloaded files are read with allow_pickle=False", dataset)
        if tuple(got_shape) != shape or got_dtype != dtype:
            raise refuse(path, f"array {key!r} is {tuple(got_shape)} {got_dtype}, expected {shape} "
                         f"{np.dtype(dtype)}", dataset)
        if fortran:
            raise refuse(path, f"array {key!r} is stored in Fortran order, expected C order", dataset)


def check_grid_order(path: str, key: str, classes: np.ndarray, names, sizes, dataset: str) -> None:
    """``classes`` (N, k) must list the factor grid row-major, the last factor fastest."""
    index = np.arange(len(classes))
    for k in range(len(sizes)):
        stride = int(np.prod(sizes[k + 1:]))
        wrong = np.flatnonzero(classes[:, k] != (index // stride) % sizes[k])
        if len(wrong):
            row = int(wrong[0])
            expected = np.stack(np.unravel_index(row, sizes))
            raise refuse(path, f"{key!r} does not follow the factor grid order the metrics assume (row-major "
                         f"{', '.join(names)}, sizes {', '.join(map(str, sizes))}, {names[-1]} fastest): row "
                         f"{row} is {classes[row].tolist()}, expected {expected.tolist()}", dataset)


class _PackedImgs:
    """Streams ``imgs`` out of the (compressed) ``.npz`` in order, checks it is 0/1 and bit-packs
    it: the ``decode`` of the cache build. The zip is opened on the first call only."""

    def __init__(self, data: OfficialDSprites):
        self.data, self.stream, self.archive, self.next = data, None, None, 0

    def decode(self, index: np.ndarray) -> np.ndarray:
        data, n = self.data, len(index)
        if self.stream is None:
            with np.load(data.path, allow_pickle=False) as npz:
                check_grid_order(data.path, "latents_classes", npz["latents_classes"], data.factor_names,
                                 data.factor_sizes, "dSprites")
            self.archive = zipfile.ZipFile(data.path)
            self.stream = self.archive.open("imgs.npy")
            _npy_header(self.stream)  # checked by OfficialDSprites._open
        if int(index[0]) != self.next:
            raise RuntimeError(f"imgs: chunks must be read in order, got {index[0]} after {self.next}")
        pixels = np.frombuffer(self.stream.read(n * 64 * 64), dtype=np.uint8).reshape(n, 64 * 64)
        bad = np.flatnonzero(pixels.max(axis=1) > 1)
        if len(bad):
            image = int(index[bad[0]])
            raise refuse(data.path, f"array 'imgs' holds values other than 0 and 1 ({int(pixels[bad[0]].max())} "
                         f"in image {image})", "dSprites")
        self.next += n
        return np.packbits(pixels, axis=1)

    def close(self):
        for handle in (self.stream, self.archive):
            if handle is not None:
                handle.close()


class OfficialDSprites(CachedGroundTruth):
    """dSprites from the official ``.npz`` (module docstring): the factors of :class:`DSprites`."""

    name = record_name = "dsprites"
    num_channels = 1
    default_likelihood = "bernoulli"
    factor_names = DSprites.factor_names
    factor_sizes = DSprites.factor_sizes
    file = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
    folder = "dsprites"
    source = "https://github.com/google-deepmind/dsprites-dataset"

    def _open(self) -> np.ndarray:
        self.path = os.path.join(locate(self.root, self.folder, [self.file], "dSprites", self.source), self.file)
        n, k = self.num_examples, len(self.factor_sizes)
        check_npz_arrays(self.path, npz_headers(self.path, "dSprites"),
                         {"imgs": ((n, 64, 64), np.uint8), "latents_classes": ((n, k), np.int64),
                          "latents_values": ((n, k), np.float64)}, "dSprites")
        reader = _PackedImgs(self)
        try:
            return self._cached([self.path], {"layout": "imgs 0/1, np.packbits per image", "grid": self.factor_sizes},
                                (64 * 64 // 8,), n, reader.decode)
        finally:
            reader.close()

    def pixels(self, rows: np.ndarray) -> torch.Tensor:
        """Unpack the bit-packed rows on the device: (n, 1, 64, 64) float32 in {0, 1}."""
        packed = torch.from_numpy(np.asarray(self.images[rows])).to(self.device)
        shifts = torch.arange(7, -1, -1, device=self.device, dtype=torch.uint8)  # np.packbits: MSB first
        bits = (packed.unsqueeze(-1) >> shifts) & 1
        return bits.reshape(len(rows), 1, 64, 64).float()
