"""scream-dSprites (disentanglement_lib's ``ScreamDSprites``) from the official dSprites file and a
user-supplied copy of Munch's "The Scream".

Files under ``--data-root DIR``: the official dSprites ``.npz`` (where :mod:`train.data.official`
looks for it: ``DIR/dsprites/`` or ``DIR``) and the painting as ``DIR/scream/scream.jpg`` (the
layout of disentanglement_lib's ``dlib_download_data``, which fetches
https://upload.wikimedia.org/wikipedia/commons/f/f4/The_Scream.jpg) or ``DIR/scream.jpg``.

Built as disentanglement_lib builds it: the painting is opened with PIL and shrunk in place with
``Image.thumbnail((350, 274))`` (at most 350 px wide and 274 px high, aspect kept; Pillow's default
resampling, so the exact pixels follow the Pillow version), then scaled to [0, 1]. Per sample, a
64×64 patch with its top-left corner uniform in [0, H − 64) × [0, W − 64) is mixed with a colour
``u`` uniform in [0, 1)³: ``background = (patch + u) / 2``; where the official sprite is 1 the
pixel is inverted, ``1 − background``. The factors are dSprites' (same names, sizes and order);
the patch and colour are nuisance, drawn as for :mod:`train.data.variants` (from the batch
generator, the eval-set seed, or a stream seeded by the factors). Recorded as ``scream-dsprites``;
``textured-dsprites`` is the procedural stand-in for machines without the files.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from train.data.base import GroundTruthData
from train.data.official import OfficialDSprites, locate, refuse
from train.data.variants import TexturedDSprites

#: disentanglement_lib's ``scream.thumbnail((350, 274, 3))``: the largest width and height.
THUMBNAIL = (350, 274)


def scream_texture(path: str) -> np.ndarray:
    """The painting as disentanglement_lib prepares it: (3, H, W) float32 in [0, 1]."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.thumbnail(THUMBNAIL)  # before any conversion, as disentanglement_lib (JPEG draft decoding)
            rgb = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    except (OSError, UnidentifiedImageError) as exc:
        raise refuse(path, f"is not a readable image ({exc})", "scream.jpg") from exc
    height, width = rgb.shape[:2]
    if min(height, width) <= 64:
        raise refuse(path, f"is {width}×{height} px after the thumbnail to at most {THUMBNAIL[0]}×{THUMBNAIL[1]}; "
                     f"64×64 patches need more than 64 px each way", "scream.jpg")
    return np.ascontiguousarray(rgb.transpose(2, 0, 1))


class ScreamDSprites(TexturedDSprites):
    """Official dSprites sprites on patches of "The Scream" (module docstring)."""

    name = record_name = "scream-dsprites"
    file = "scream.jpg"
    folder = "scream"
    source = "https://upload.wikimedia.org/wikipedia/commons/f/f4/The_Scream.jpg"

    def __init__(self, root: str, device=None, cache_dir: str | None = None):
        # Not DSprites.__init__: the sprites come from the official file, not the procedural renderer.
        GroundTruthData.__init__(self, device)
        self.sprites = OfficialDSprites(root, device, cache_dir=cache_dir)
        self.factor_sizes = self.sprites.factor_sizes
        self.path = os.path.join(locate(root, self.folder, [self.file], "scream-dSprites", self.source), self.file)
        self._texture = torch.from_numpy(scream_texture(self.path)).to(self.device)
        self._offsets = torch.arange(64, device=self.device)

    def masks(self, factors) -> torch.Tensor:
        """The official sprites of ``factors`` (n, 1, 64, 64) in {0, 1}."""
        return self.sprites.observations(factors)
