"""Datasets: procedural dSprites (ground-truth factors) and local image folders (MNIST, CelebA).

``get_dataset(name, root=None, device=None)`` builds one by name from :data:`DATASETS`.
"""

from __future__ import annotations

from study.data.base import GroundTruthData
from study.data.dsprites import DSprites, dsprites
from study.data.folders import MNIST, CelebA, DatasetNotFoundError


def _folder(cls):
    def make(root=None, device=None):
        if not root:
            raise DatasetNotFoundError(f"data_root: dataset {cls.name!r} is read from a local folder; "
                                       f"pass --data-root DIR")
        return cls(root, device=device)

    return make


DATASETS = {
    "dsprites": lambda root=None, device=None: dsprites(device),
    "mnist": _folder(MNIST),
    "celeba": _folder(CelebA),
}


def get_dataset(name: str, root: str | None = None, device=None):
    """The dataset called ``name`` on ``device``; a clear error lists the known names."""
    if name not in DATASETS:
        raise ValueError(f"dataset: unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return DATASETS[name](root=root, device=device)


__all__ = ["DATASETS", "get_dataset", "dsprites", "DSprites", "MNIST", "CelebA", "GroundTruthData",
           "DatasetNotFoundError"]
