"""Datasets: dSprites (procedural, or the official file), its 3-channel variants, the official files
of SmallNORB, Cars3D, scream-dSprites, Shapes3D and MPI3D (all with ground-truth factors), and local
image folders without factors (MNIST, CelebA).

* Generated here, no files: ``dsprites`` without a data root (:mod:`study.data.dsprites`, recorded
  ``dsprites-procedural``), ``color-dsprites``, ``noisy-dsprites`` and ``textured-dsprites``
  (:mod:`study.data.variants`, each recorded ``<name>-procedural``).
* From ``--data-root DIR``, in their official formats: ``dsprites`` (the official ``.npz``, recorded
  ``dsprites``; :mod:`study.data.official`), ``smallnorb`` (:mod:`study.data.smallnorb`),
  ``cars3d`` (:mod:`study.data.cars3d`), ``scream-dsprites`` (:mod:`study.data.scream`),
  ``shapes3d``, ``mpi3d-toy``, ``mpi3d-realistic``, ``mpi3d-real``
  (:mod:`study.data.factor_files`), ``mnist`` and ``celeba`` (:mod:`study.data.folders`). Each
  looks in ``DIR/<its folder>/`` (disentanglement_lib's layout) and names the files it expects.
  Given a data root, ``dsprites`` reads the official file or fails naming it: it never falls back
  to the look-alike silently.

``get_dataset(name, root=None, device=None)`` builds one by name from :data:`DATASETS`.
"""

from __future__ import annotations

from study.data.base import GroundTruthData
from study.data.cars3d import Cars3D
from study.data.dsprites import DSprites, dsprites
from study.data.factor_files import MPI3D, MPI3DReal, MPI3DRealistic, MPI3DToy, Shapes3D
from study.data.folders import MNIST, CelebA, DatasetNotFoundError
from study.data.official import DatasetFileError, OfficialDSprites
from study.data.scream import ScreamDSprites
from study.data.smallnorb import SmallNORB
from study.data.variants import ColorDSprites, NoisyDSprites, TexturedDSprites


def _folder(cls):
    def make(root=None, device=None):
        if not root:
            raise DatasetNotFoundError(f"data_root: dataset {cls.name!r} is read from a local folder; "
                                       f"pass --data-root DIR")
        return cls(root, device=device)

    return make


def _generated(cls):
    return lambda root=None, device=None: cls(device)


def _dsprites(root=None, device=None):
    """The official file under ``root`` if a root is given (or an error naming it), else procedural."""
    return OfficialDSprites(root, device=device) if root else dsprites(device)


DATASETS = {
    "dsprites": _dsprites,
    "color-dsprites": _generated(ColorDSprites),
    "noisy-dsprites": _generated(NoisyDSprites),
    "textured-dsprites": _generated(TexturedDSprites),
    "scream-dsprites": _folder(ScreamDSprites),
    "smallnorb": _folder(SmallNORB),
    "cars3d": _folder(Cars3D),
    "shapes3d": _folder(Shapes3D),
    "mpi3d-toy": _folder(MPI3DToy),
    "mpi3d-realistic": _folder(MPI3DRealistic),
    "mpi3d-real": _folder(MPI3DReal),
    "mnist": _folder(MNIST),
    "celeba": _folder(CelebA),
}


#: Datasets read from files under ``--data-root`` (the others are generated; dsprites is read from
#: its official file when a data root is given).
FILE_DATASETS = frozenset(n for n, make in DATASETS.items() if getattr(make, "__name__", "") == "make")


def needs_files(name: str, root: str | None) -> bool:
    """Does the dataset ``name`` (with data root ``root``) read files (vs. being generated)?"""
    return bool(root) or name in FILE_DATASETS


def get_dataset(name: str, root: str | None = None, device=None):
    """The dataset called ``name`` on ``device``; a clear error lists the known names."""
    if name not in DATASETS:
        raise ValueError(f"dataset: unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return DATASETS[name](root=root, device=device)


__all__ = ["DATASETS", "FILE_DATASETS", "needs_files", "get_dataset",
           "dsprites", "DSprites", "OfficialDSprites", "ColorDSprites", "NoisyDSprites",
           "TexturedDSprites", "ScreamDSprites", "SmallNORB", "Cars3D", "Shapes3D", "MPI3D", "MPI3DToy",
           "MPI3DRealistic", "MPI3DReal", "MNIST", "CelebA", "GroundTruthData", "DatasetNotFoundError",
           "DatasetFileError"]
