"""Real image sets without ground-truth factors, read from a local folder (never downloaded).

* MNIST through ``torchvision.datasets.MNIST(root, download=False)``: expects
  ``<root>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``. Digits are resized to 64×64
  (bilinear) and kept as grey levels in [0, 1], rounded to 1/255; the default likelihood is
  Bernoulli (the usual choice for MNIST's near-binary strokes). Labels: the digit. The resized
  splits are cached like CelebA's (245 MB + 41 MB): the per-batch resize cost ~10× a gather
  (40k against 400k img/s on one thread; benchmarks/notes/2026-11-27-data-loading.md).
* CelebA, aligned-and-cropped release: expects ``<root>/celeba/img_align_celeba/*.jpg``,
  ``<root>/celeba/list_attr_celeba.txt`` and ``<root>/celeba/list_eval_partition.txt`` — the layout
  of ``torchvision.datasets.CelebA``. torchvision's class also verifies MD5 sums of every text file
  (so it rejects any re-saved or partial copy); this reader parses the same files itself and decodes
  with ``torchvision.io`` + ``torchvision.transforms.v2``: centre crop 148×148 (the face, as in the
  seed report and most VAE work on CelebA) then resize to 64×64, RGB in [0, 1]; the default
  likelihood is Gaussian. Labels: the 40 binary attributes (0/1). The train and test splits are
  decoded once into memory-mapped 64×64 uint8 files (2.0 GB + 0.25 GB, shared by the trials of a
  node through the page cache; :mod:`train.data.image_cache`), so a batch is a gather of rows
  instead of 64 JPEG decodes; ``cache=False`` decodes per batch instead.
Held-out sets are the official test splits.
"""

from __future__ import annotations

import os

import numpy as np
import torch


class DatasetNotFoundError(ValueError):
    """The dataset's files are not where the config says; the message lists what is expected."""


def _require(paths: list[str], dataset: str, root: str) -> None:
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        raise DatasetNotFoundError(
            f"data_root: {dataset} files not found under {root!r}; missing {', '.join(missing)}. "
            f"Download {dataset} by hand (this machine cannot fetch it) and pass --data-root to the "
            f"folder that holds them.")


class ImageFolderData:
    """Common part: a train and a test split of images decoded by :meth:`decode` (uint8, 64×64),
    either once into a memory-mapped cache per split (:meth:`_cache_splits`; a batch is then a
    gather of its rows) or, without a cache, for every batch."""

    has_factors = False
    name = record_name = "folder"
    size = 64

    def __init__(self, device):
        self.device = torch.device(device or "cpu")
        self.cache: dict[str, np.ndarray] = {}

    def decode(self, split: str, index) -> torch.Tensor:
        """Images ``index`` of ``split`` from the source files: uint8 (n, C, size, size) on the CPU."""
        raise NotImplementedError

    def _cache_splits(self, root: str, cache_dir: str | None, sources: dict[str, list[str]],
                      params: dict) -> None:
        """Decode each split once into (or map it from) the cache; ``sources``: the files each
        split is decoded from, ``params``: the preprocessing, both part of the cache key."""
        from train.data.image_cache import cache_folder, cached_images

        folder = cache_folder(root, cache_dir)
        counts = {"train": self.num_examples, "test": self.num_test}
        shape = (self.num_channels, self.size, self.size)
        for split, paths in sources.items():
            self.cache[split] = cached_images(
                f"{self.name}-{split}", paths, {"dataset": self.name, **params}, shape, counts[split],
                lambda index, split=split: self.decode(split, index).numpy(), folder)

    def _images(self, split: str, index: np.ndarray) -> torch.Tensor:
        """Images ``index`` of ``split`` as float in [0, 1] on the device."""
        index = np.asarray(index, dtype=np.int64)
        images = torch.from_numpy(self.cache[split][index]) if self.cache else self.decode(split, index)
        return images.to(self.device).float() / 255.0

    def train_batch(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """A uniform random batch of training images, on the device."""
        index = torch.randint(0, self.num_examples, (batch_size,), generator=generator,
                              device=generator.device).cpu().numpy()
        return self._images("train", index)

    def eval_set(self, n: int, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
        """The first ``n`` images of a fixed permutation of the test split, with their labels."""
        order = np.random.default_rng([seed, 0xE7A1]).permutation(self.num_test)[:n]
        return self._images("test", order), self.labels["test"][order]


class MNIST(ImageFolderData):
    """MNIST digits at 64×64 (1 channel) from a local torchvision-layout folder; ``cache`` and
    ``cache_dir`` as for :class:`CelebA` (the cache holds the resized digits)."""

    name = record_name = "mnist"
    num_channels = 1
    default_likelihood = "bernoulli"

    def __init__(self, root: str, device=None, *, cache: bool = True, cache_dir: str | None = None):
        super().__init__(device)
        from torchvision.datasets import MNIST as TV

        raw = os.path.join(root, "MNIST", "raw")
        _require([os.path.join(raw, f"{s}-{k}") for s in ("train", "t10k")
                  for k in ("images-idx3-ubyte", "labels-idx1-ubyte")], "MNIST", root)
        self.data, self.labels = {}, {}
        for split, train in (("train", True), ("test", False)):
            ds = TV(root, train=train, download=False)
            self.data[split] = ds.data
            self.labels[split] = ds.targets.numpy()
        self.num_examples = len(self.data["train"])
        self.num_test = len(self.data["test"])
        if cache:
            sources = {split: [os.path.join(raw, f"{prefix}-images-idx3-ubyte")]
                       for split, prefix in (("train", "train"), ("test", "t10k"))}
            self._cache_splits(root, cache_dir, sources, {"resize": "bilinear 64, align_corners=False, rounded"})
            self.data = {}  # only needed to decode

    def decode(self, split: str, index) -> torch.Tensor:
        """Digits ``index`` of ``split`` resized 28 → 64 (bilinear), rounded to uint8 (n, 1, 64, 64)."""
        x = self.data[split][torch.as_tensor(index)].unsqueeze(1).float()
        x = torch.nn.functional.interpolate(x, size=(64, 64), mode="bilinear", align_corners=False)
        return x.round_().clamp_(0, 255).to(torch.uint8)


class CelebA(ImageFolderData):
    """CelebA faces, centre-cropped 148 → 64×64 RGB, from a local torchvision-layout folder.

    ``cache`` (default): each split is decoded once into a memory-mapped uint8 file
    (:mod:`train.data.image_cache`, in ``cache_dir`` or beside the data) and a batch is a gather of
    its rows; without it every batch is decoded from JPEG. ``crop`` and ``size`` are the centre
    crop and the output side; they are part of the cache key.
    """

    name = record_name = "celeba"
    num_channels = 3
    default_likelihood = "gaussian"

    def __init__(self, root: str, device=None, *, crop: int = 148, size: int = 64, cache: bool = True,
                 cache_dir: str | None = None):
        super().__init__(device)
        base = os.path.join(root, "celeba")
        self.image_dir = os.path.join(base, "img_align_celeba")
        attr_file = os.path.join(base, "list_attr_celeba.txt")
        split_file = os.path.join(base, "list_eval_partition.txt")
        _require([self.image_dir, attr_file, split_file], "CelebA", root)
        self.attribute_names, names, attrs = _read_attributes(attr_file)
        partition = _read_partition(split_file)
        split_of = np.array([partition[n] for n in names])
        self.files = {"train": [n for n, s in zip(names, split_of, strict=True) if s == 0],
                      "test": [n for n, s in zip(names, split_of, strict=True) if s == 2]}
        self.labels = {"train": attrs[split_of == 0], "test": attrs[split_of == 2]}
        self.num_examples = len(self.files["train"])
        self.num_test = len(self.files["test"])
        if self.num_examples == 0 or self.num_test == 0:
            raise DatasetNotFoundError(f"data_root: {split_file} lists no train (0) or no test (2) images")
        self.crop, self.size = int(crop), int(size)
        if cache:
            sources = {split: [os.path.join(self.image_dir, f) for f in files] for split, files in self.files.items()}
            self._cache_splits(root, cache_dir, sources, {"crop": self.crop, "size": self.size,
                                                          "decode": "decode_image RGB, center_crop, resize antialias"})

    def decode(self, split: str, index) -> torch.Tensor:
        """Images ``index`` of ``split`` decoded from their JPEGs: uint8 (n, 3, size, size)."""
        from torchvision.io import ImageReadMode, decode_image
        from torchvision.transforms.v2 import functional as TF

        out = []
        for i in index:
            img = decode_image(os.path.join(self.image_dir, self.files[split][int(i)]), mode=ImageReadMode.RGB)
            img = TF.center_crop(img, [self.crop, self.crop])
            out.append(TF.resize(img, [self.size, self.size], antialias=True))
        return torch.stack(out)


def _read_attributes(path: str) -> tuple[list[str], list[str], np.ndarray]:
    """list_attr_celeba.txt: attribute names, image names in file order, (n, 40) 0/1 attributes."""
    with open(path) as handle:
        lines = handle.read().splitlines()
    names, attrs = [], []
    for line in lines[2:]:
        parts = line.split()
        if parts:
            names.append(parts[0])
            attrs.append([int(v) > 0 for v in parts[1:]])
    return lines[1].split(), names, np.asarray(attrs, dtype=np.int64)


def _read_partition(path: str) -> dict[str, int]:
    """list_eval_partition.txt: image name → split (0 train, 1 validation, 2 test)."""
    partition = {}
    with open(path) as handle:
        for line in handle:
            parts = line.split()
            if parts:
                partition[parts[0]] = int(parts[1])
    return partition
