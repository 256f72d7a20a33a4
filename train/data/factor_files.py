"""Ground-truth datasets read from their official files in a local folder (never downloaded).

* Shapes3D (Burgess & Kim 2018), ``<root>/3dshapes/3dshapes.h5``: HDF5 datasets ``images``
  (480000, 64, 64, 3) uint8 and ``labels`` (480000, 6) float64. Factors floor_hue 10, wall_hue 10,
  object_hue 10, scale 8, shape 4, orientation 15, row-major with orientation fastest (the
  ``get_index`` of the official notebook). Reading it needs h5py: ``pip install 'betasweep[data]'``.
* MPI3D (Gondal et al. 2019), ``<root>/mpi3d_<variant>/mpi3d_<variant>.npz`` for the toy,
  realistic and real variants: array ``images`` (1036800, 64, 64, 3) uint8. Factors object_color 6,
  object_shape 6, object_size 2, camera_height 3, background_color 3, horizontal_axis 40,
  vertical_axis 40: the official README reshapes the array to (6, 6, 2, 3, 3, 40, 40, 64, 64, 3),
  i.e. row-major with vertical_axis fastest, as disentanglement_lib's ``mpi3d.py`` indexes it
  (which still lists the 4-colour/4-shape sizes of the first, 460,800-image release).

Both are RGB in [0, 1] with a Gaussian default likelihood (as CelebA) and expose the interface of
:class:`train.data.base.GroundTruthData`, so every factor metric works on them.

Memory: nothing is loaded up front. An uncompressed ``.npz`` member (``numpy.savez``, as the
official files are written) and a contiguous HDF5 dataset are memory-mapped; a compressed
``.npz`` (``savez_compressed``) cannot be, and is decompressed into RAM once (12.7 GB for MPI3D,
with a warning); a chunked HDF5 dataset is read lazily through h5py, chunk by chunk. A batch costs
n × 12 KB of uint8 plus its float copy on the device; the OS page cache keeps the pages read
(up to the file: 5.9 GB for Shapes3D, 12.7 GB for MPI3D) and gives them back under pressure.

The factor sizes are class attributes and the loader accepts any file with exactly their product
of images, so tests write tiny files in the official format and shrink the grid with monkeypatch.
"""

from __future__ import annotations

import os
import struct
import warnings
import zipfile

import numpy as np
import torch

from train.data.base import GroundTruthData
from train.data.folders import DatasetNotFoundError

_ZIP_LOCAL_HEADER = struct.Struct("<4s5H3I2H")  # signature … file-name length, extra length


def _stored_npy_memmap(path: str, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.memmap | None:
    """A read-only memmap of an uncompressed .npy member of a zip (an .npz), or None if it is compressed."""
    if info.compress_type != zipfile.ZIP_STORED:
        return None
    with archive.open(info) as handle:
        version = np.lib.format.read_magic(handle)
        if version not in ((1, 0), (2, 0)):
            return None
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read(handle)
        header = handle.tell()
    with open(path, "rb") as raw:  # the member's bytes start after its local header, name and extra field
        raw.seek(info.header_offset)
        fields = _ZIP_LOCAL_HEADER.unpack(raw.read(_ZIP_LOCAL_HEADER.size))
    start = info.header_offset + _ZIP_LOCAL_HEADER.size + fields[-2] + fields[-1]
    return np.memmap(path, dtype=dtype, mode="r", offset=start + header, shape=shape, order="F" if fortran else "C")


def _npz_member(path: str, key: str):
    """Array ``key`` of an .npz: memory-mapped if stored uncompressed, else decompressed into memory."""
    if not zipfile.is_zipfile(path):
        raise DatasetNotFoundError(f"data_root: {path} is not an .npz (zip) file; is it the official download?")
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        if f"{key}.npy" not in names:
            raise DatasetNotFoundError(f"data_root: {path} holds no array {key!r} "
                                       f"(arrays: {', '.join(n.removesuffix('.npy') for n in names)})")
        info = archive.getinfo(f"{key}.npy")
        mapped = _stored_npy_memmap(path, archive, info)
    if mapped is not None:
        return mapped
    warnings.warn(f"{path}: array {key!r} is compressed, so it cannot be memory-mapped; decompressing "
                  f"{info.file_size / 1e9:.2f} GB into memory. Re-save it with numpy.savez (uncompressed) "
                  f"to map it instead.", stacklevel=3)
    with np.load(path) as archive:
        return archive[key]


def _h5_datasets(path: str, keys: tuple[str, ...]) -> dict:
    """HDF5 datasets ``keys`` of ``path``: memmaps where contiguous, else lazy h5py datasets."""
    try:
        import h5py
    except ImportError as exc:
        raise ImportError(f"reading {path} needs h5py, which is not installed; install the data extra: "
                          f"pip install 'betasweep[data]' (or pip install h5py)") from exc
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise DatasetNotFoundError(f"data_root: {path} is not a readable HDF5 file ({exc}); "
                                   f"is it the official download?") from exc
    out = {}
    for key in keys:
        if key not in handle:
            raise DatasetNotFoundError(f"data_root: {path} holds no dataset {key!r} (has {', '.join(handle)})")
        data = handle[key]
        offset = data.id.get_offset()
        if data.chunks is None and offset is not None:  # contiguous, unfiltered: map the bytes
            out[key] = np.memmap(path, dtype=data.dtype, mode="r", offset=offset, shape=data.shape)
        else:
            out[key] = data
    return out


class FactorFileData(GroundTruthData):
    """Common part: an official (N, 64, 64, 3) uint8 image array indexed row-major by the factors."""

    num_channels = 3
    default_likelihood = "gaussian"
    #: Path of the file under the data root, and where to download it.
    relative_path = ""
    source = ""

    def __init__(self, root: str, device=None):
        super().__init__(device)
        self.path = os.path.join(root, self.relative_path)
        if not os.path.isfile(self.path):
            raise DatasetNotFoundError(
                f"data_root: {self.name} file not found: expected {self.path} under {root!r}. Download "
                f"{os.path.basename(self.path)} by hand from {self.source} (this machine cannot fetch it), "
                f"put it at <data root>/{self.relative_path} and pass --data-root to that folder.")
        self.images = self._open()
        self._check(self.images, "images", (self.num_examples, 64, 64, 3), np.uint8)

    def _open(self):
        raise NotImplementedError

    def _check(self, array, key: str, shape: tuple, dtype) -> None:
        if tuple(array.shape) != shape or array.dtype != dtype:
            raise DatasetNotFoundError(
                f"data_root: {self.path} array {key!r} is {tuple(array.shape)} {array.dtype}, expected {shape} "
                f"{np.dtype(dtype)} (factor sizes {self.factor_sizes}); is it the official {self.name} file?")

    def observations(self, factors) -> torch.Tensor:
        """Images (n, 3, 64, 64) float32 in [0, 1] on the device: the file's entries for ``factors``."""
        f = factors.cpu() if torch.is_tensor(factors) else torch.as_tensor(np.asarray(factors))
        f = f.long()
        self._check_factors(f)
        index = self.factors_to_index(f.numpy())
        unique, inverse = np.unique(index, return_inverse=True)  # h5py wants increasing indices
        pixels = np.asarray(self.images[unique])[inverse.reshape(-1)]
        return torch.from_numpy(pixels).to(self.device).permute(0, 3, 1, 2).float() / 255.0

    def __getstate__(self):
        """Pickle the path, not the mapped file (reopened on unpickling)."""
        return {k: v for k, v in self.__dict__.items() if k not in ("images", "labels")}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.images = self._open()


class Shapes3D(FactorFileData):
    """Shapes3D from the official ``3dshapes.h5`` (needs h5py)."""

    name = record_name = "shapes3d"
    factor_names = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
    factor_sizes = (10, 10, 10, 8, 4, 15)
    relative_path = os.path.join("3dshapes", "3dshapes.h5")
    source = "https://storage.googleapis.com/3d-shapes/3dshapes.h5 (see github.com/google-deepmind/3d-shapes)"

    def _open(self):
        arrays = _h5_datasets(self.path, ("images", "labels"))
        self._check(arrays["labels"], "labels", (self.num_examples, len(self.factor_sizes)), np.float64)
        self.labels = arrays["labels"]
        return arrays["images"]


class MPI3D(FactorFileData):
    """MPI3D (one of its three variants) from the official ``mpi3d_<variant>.npz``."""

    factor_names = ("object_color", "object_shape", "object_size", "camera_height", "background_color",
                    "horizontal_axis", "vertical_axis")
    factor_sizes = (6, 6, 2, 3, 3, 40, 40)

    @property
    def source(self) -> str:
        file = os.path.basename(self.relative_path)
        return (f"https://huggingface.co/datasets/waleedgondal/mpi3d/resolve/main/{file} "
                f"(see github.com/rr-learning/disentanglement_dataset)")

    def _open(self):
        return _npz_member(self.path, "images")


class MPI3DToy(MPI3D):
    """MPI3D-toy: simplistic renderings."""

    name = record_name = "mpi3d-toy"
    relative_path = os.path.join("mpi3d_toy", "mpi3d_toy.npz")


class MPI3DRealistic(MPI3D):
    """MPI3D-realistic: realistic renderings."""

    name = record_name = "mpi3d-realistic"
    relative_path = os.path.join("mpi3d_realistic", "mpi3d_realistic.npz")


class MPI3DReal(MPI3D):
    """MPI3D-real: photographs of the real robot platform."""

    name = record_name = "mpi3d-real"
    relative_path = os.path.join("mpi3d_real", "mpi3d_real.npz")
