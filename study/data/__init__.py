"""Datasets: procedural dSprites and its 3-channel variants, Shapes3D and MPI3D from their official
files (all with ground-truth factors), and local image folders without factors (MNIST, CelebA).

* Generated here, no files: ``dsprites`` (:mod:`study.data.dsprites`), ``color-dsprites``,
  ``noisy-dsprites`` and ``textured-dsprites`` (:mod:`study.data.variants`).
* From ``--data-root DIR``: ``shapes3d``, ``mpi3d-toy``, ``mpi3d-realistic``, ``mpi3d-real``
  (:mod:`study.data.factor_files`), ``mnist`` and ``celeba`` (:mod:`study.data.folders`).

``get_dataset(name, root=None, device=None)`` builds one by name from :data:`DATASETS`.
"""

from __future__ import annotations

from study.data.base import GroundTruthData
from study.data.dsprites import DSprites, dsprites
from study.data.factor_files import MPI3D, MPI3DReal, MPI3DRealistic, MPI3DToy, Shapes3D
from study.data.folders import MNIST, CelebA, DatasetNotFoundError
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


DATASETS = {
    "dsprites": lambda root=None, device=None: dsprites(device),
    "color-dsprites": _generated(ColorDSprites),
    "noisy-dsprites": _generated(NoisyDSprites),
    "textured-dsprites": _generated(TexturedDSprites),
    "shapes3d": _folder(Shapes3D),
    "mpi3d-toy": _folder(MPI3DToy),
    "mpi3d-realistic": _folder(MPI3DRealistic),
    "mpi3d-real": _folder(MPI3DReal),
    "mnist": _folder(MNIST),
    "celeba": _folder(CelebA),
}


def get_dataset(name: str, root: str | None = None, device=None):
    """The dataset called ``name`` on ``device``; a clear error lists the known names."""
    if name not in DATASETS:
        raise ValueError(f"dataset: unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return DATASETS[name](root=root, device=device)


__all__ = ["DATASETS", "get_dataset", "dsprites", "DSprites", "ColorDSprites", "NoisyDSprites",
           "TexturedDSprites", "Shapes3D", "MPI3D", "MPI3DToy", "MPI3DRealistic", "MPI3DReal", "MNIST",
           "CelebA", "GroundTruthData", "DatasetNotFoundError"]
