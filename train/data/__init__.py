"""Datasets: dSprites (procedural, or the official file), its 3-channel variants, the official files
of SmallNORB, Cars3D, scream-dSprites, Shapes3D and MPI3D (all with ground-truth factors), and local
image folders without factors (MNIST, CelebA).

* Generated here, no files: ``dsprites`` without a data root (:mod:`train.data.dsprites`, recorded
  ``dsprites-procedural``), ``color-dsprites``, ``noisy-dsprites`` and ``textured-dsprites``
  (:mod:`train.data.variants`, each recorded ``<name>-procedural``).
* From ``--data-root DIR``, in their official formats: ``dsprites`` (the official ``.npz``, recorded
  ``dsprites``; :mod:`train.data.official`), ``smallnorb`` (:mod:`train.data.smallnorb`),
  ``cars3d`` (:mod:`train.data.cars3d`), ``scream-dsprites`` (:mod:`train.data.scream`),
  ``shapes3d``, ``mpi3d-toy``, ``mpi3d-realistic``, ``mpi3d-real``
  (:mod:`train.data.factor_files`), ``mnist`` and ``celeba`` (:mod:`train.data.folders`). Each
  looks in ``DIR/<its folder>/`` (disentanglement_lib's layout) and names the files it expects.
  Given a data root, ``dsprites`` reads the official file or fails naming it: it never falls back
  to the look-alike silently.

``get_dataset(name, root=None, device=None)`` builds one by name from :data:`DATASETS`, the one
declaration of the datasets (the config reads its lists from it on first use);
``record_name(name, data_root)`` is the name a dataset is recorded under.
"""

from __future__ import annotations

from dataclasses import dataclass

from train.data.base import GroundTruthData
from train.data.cars3d import Cars3D
from train.data.dsprites import DSprites, dsprites
from train.data.factor_files import MPI3D, MPI3DReal, MPI3DRealistic, MPI3DToy, Shapes3D
from train.data.folders import MNIST, CelebA, DatasetNotFoundError
from train.data.official import DatasetFileError, OfficialDSprites
from train.data.scream import ScreamDSprites
from train.data.smallnorb import SmallNORB
from train.data.variants import ColorDSprites, NoisyDSprites, TexturedDSprites


@dataclass(frozen=True)
class Dataset:
    """One dataset name of :data:`DATASETS`: called with ``(root=None, device=None)`` it builds the data.

    ``cls`` is read from ``root`` (a local folder, required) when ``folder``, else generated here
    (a procedural look-alike, recorded ``<name>-procedural``); ``official``, if set, is read instead
    of the look-alike when a root is given. The one declaration of what a dataset is: the config's
    lists (``train.options.DATASETS``, ``FACTOR_DATASETS``, …) are read from here on first use.
    """

    cls: type
    folder: bool = False
    official: type | None = None

    @property
    def name(self) -> str:
        return self.cls.name

    @property
    def has_factors(self) -> bool:
        return self.cls.has_factors

    @property
    def procedural(self) -> bool:
        """Rendered here as a look-alike of a published dataset (same factors, not its pixels)."""
        return not self.folder

    def record_name(self, data_root: str | None = None) -> str:
        """The name it is recorded under (MLflow ``dataset`` tag, report): the official file's name
        when it is read (``data_root`` set), else the look-alike's (``dsprites-procedural``)."""
        return (self.official if self.official and data_root else self.cls).record_name

    def __call__(self, root=None, device=None):
        if self.folder and not root:
            raise DatasetNotFoundError(f"data_root: dataset {self.name!r} is read from a local folder; "
                                       f"pass --data-root DIR")
        if self.folder or (self.official and root):
            return (self.official or self.cls)(root, device=device)
        return dsprites(device) if self.cls is DSprites else self.cls(device)


#: Dataset name → how it is built and recorded, in the order configs and errors list them.
DATASETS: dict[str, Dataset] = {entry.name: entry for entry in (
    Dataset(DSprites, official=OfficialDSprites),
    Dataset(ColorDSprites),
    Dataset(NoisyDSprites),
    Dataset(TexturedDSprites),
    Dataset(ScreamDSprites, folder=True),
    Dataset(SmallNORB, folder=True),
    Dataset(Cars3D, folder=True),
    Dataset(Shapes3D, folder=True),
    Dataset(MPI3DToy, folder=True),
    Dataset(MPI3DRealistic, folder=True),
    Dataset(MPI3DReal, folder=True),
    Dataset(MNIST, folder=True),
    Dataset(CelebA, folder=True),
)}


#: Datasets read from files under ``--data-root`` (the others are generated; dsprites is read from
#: its official file when a data root is given).
FILE_DATASETS = frozenset(name for name, entry in DATASETS.items() if entry.folder)


def needs_files(name: str, root: str | None) -> bool:
    """Does the dataset ``name`` (with data root ``root``) read files (vs. being generated)?"""
    return bool(root) or name in FILE_DATASETS


def get_dataset(name: str, root: str | None = None, device=None):
    """The dataset called ``name`` on ``device``; a clear error lists the known names."""
    if name not in DATASETS:
        raise ValueError(f"dataset: unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return DATASETS[name](root=root, device=device)


def record_name(name: str, data_root: str | None = None) -> str:
    """The name dataset ``name`` is recorded under (:meth:`Dataset.record_name`); an unknown name as is."""
    entry = DATASETS.get(name)
    return entry.record_name(data_root) if entry else name


__all__ = ["DATASETS", "Dataset", "FILE_DATASETS", "needs_files", "get_dataset", "record_name", "dsprites",
           "DSprites", "OfficialDSprites", "ColorDSprites", "NoisyDSprites",
           "TexturedDSprites", "ScreamDSprites", "SmallNORB", "Cars3D", "Shapes3D", "MPI3D", "MPI3DToy",
           "MPI3DRealistic", "MPI3DReal", "MNIST", "CelebA", "GroundTruthData", "DatasetNotFoundError",
           "DatasetFileError"]
