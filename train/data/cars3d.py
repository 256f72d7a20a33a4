"""Cars3D (Reed et al. 2015) from the official ``.mat`` files, as disentanglement_lib reads them
(``disentanglement_lib/data/ground_truth/cars3d.py``).

Files: the ``cars/`` folder of http://www.scottreed.info/files/nips2015-analogy-data.tar.gz (its
``data/cars/``), i.e. ``<root>/cars/*.mat``, or ``<root>`` itself when it is that ``cars`` folder:
183 MATLAB v5 files (read with ``scipy.io.loadmat``), one per car model, each holding a variable
``im`` of uint8 (side, side, 3, 24, 4): RGB renders of 24 azimuths × 4 elevations.

As disentanglement_lib: factors elevation 4, azimuth 24, object 183 (row-major in that order);
each render is resized to 64×64 by PIL with LANCZOS (its ``thumbnail((64, 64), ANTIALIAS)`` of a
square image) and divided by 255; the object index is the file's position among the ``.mat``
names, sorted (disentanglement_lib takes the directory listing's order, which depends on the file
system: the two labellings are a permutation of each other). The images are cached once
(:mod:`train.data.official`): (17568, 3, 64, 64) uint8, 216 MB, one file after another (per file
azimuth-major, elevation fastest, as disentanglement_lib flattens ``im``). Each file is checked
(readable, has ``im``, its shape and dtype) while the cache is built; a wrong one is refused by
name. RGB with a Gaussian default likelihood (as Shapes3D); disentanglement_lib uses Bernoulli.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from train.data.folders import DatasetNotFoundError
from train.data.official import CachedGroundTruth, refuse, resize_lanczos


def load_mesh(path: str, azimuths: int, elevations: int) -> np.ndarray:
    """The renders of one car, (azimuths · elevations, 3, 64, 64) uint8, azimuth-major."""
    from scipy.io import loadmat

    try:
        variables = loadmat(path)
    except Exception as exc:  # scipy raises many kinds (ValueError, IndexError, …) on a file that is not v5
        raise refuse(path, f"is not a readable MATLAB v5 file ({exc})", "Cars3D") from exc
    if "im" not in variables:
        names = ", ".join(k for k in variables if not k.startswith("__")) or "none"
        raise refuse(path, f"holds no variable 'im' (variables: {names})", "Cars3D")
    im = variables["im"]
    side = im.shape[0] if im.ndim else 0
    expected = (side, side, 3, azimuths, elevations)
    if im.shape != expected or im.dtype != np.uint8:
        raise refuse(path, f"variable 'im' is {im.shape} {im.dtype}, expected {expected} uint8 "
                     f"(side, side, RGB, azimuth, elevation)", "Cars3D")
    mesh = np.einsum("abcde->deabc", im).reshape(azimuths * elevations, side, side, 3)
    return resize_lanczos(mesh)


class Cars3D(CachedGroundTruth):
    """Cars3D at 64×64 with disentanglement_lib's factors (module docstring)."""

    name = record_name = "cars3d"
    num_channels = 3
    default_likelihood = "gaussian"
    factor_names = ("elevation", "azimuth", "object")
    factor_sizes = (4, 24, 183)
    folder = "cars"
    source = "http://www.scottreed.info/files/nips2015-analogy-data.tar.gz (its data/cars/ folder)"

    def _files(self) -> list[str]:
        """The sorted ``.mat`` files of ``<root>/cars`` (or of ``root`` if it is named ``cars``)."""
        places = [os.path.join(self.root, self.folder)]
        if os.path.basename(os.path.normpath(self.root)) == self.folder:
            places.append(self.root)
        for place in places:
            if os.path.isdir(place):
                names = sorted(n for n in os.listdir(place) if n.endswith(".mat"))
                if len(names) != self.factor_sizes[2]:
                    raise refuse(place, f"holds {len(names)} .mat files, expected {self.factor_sizes[2]} "
                                 f"(one per car model)", "Cars3D folder")
                return [os.path.join(place, n) for n in names]
        raise DatasetNotFoundError(
            f"data_root: Cars3D files not found: expected a folder {places[0]} of {self.factor_sizes[2]} .mat "
            f"files. Download {self.source} by hand (this machine cannot fetch it), move its data/cars/ "
            f"folder under the data root and pass --data-root to that root.")

    def _open(self) -> np.ndarray:
        paths = self._files()
        elevations, azimuths, _ = self.factor_sizes
        per_file = elevations * azimuths
        loaded: dict[int, np.ndarray] = {}

        def decode(index: np.ndarray) -> np.ndarray:
            out = []
            for row in index:
                car = int(row) // per_file
                if car not in loaded:
                    loaded.clear()  # one file in memory at a time: rows come in order
                    loaded[car] = load_mesh(paths[car], azimuths, elevations)
                out.append(loaded[car][int(row) % per_file])
            return np.stack(out)

        return self._cached(paths, {"resize": "PIL LANCZOS to 64x64", "order": "file, azimuth, elevation"},
                            (3, 64, 64), self.num_examples, decode)

    def rows(self, factors: np.ndarray, generator: torch.Generator | None = None) -> np.ndarray:
        """Cache rows: file-major, then azimuth, elevation fastest."""
        elevation, azimuth, car = np.asarray(factors, dtype=np.int64).T
        return (car * self.factor_sizes[1] + azimuth) * self.factor_sizes[0] + elevation
