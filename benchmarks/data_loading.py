"""Data-only throughput (images/s) of the folder datasets, decoded per batch vs from the image cache.

Usage: python benchmarks/data_loading.py [--celeba-images 5000] [--batch 128] [--threads 2] [--repeats 5]

No real CelebA or MNIST is on this machine, so both are synthetic folders in the real layouts,
written to a temp dir and deleted afterwards: ``--celeba-images`` JPEGs of 178×218 (CelebA's
aligned size) with smooth random content plus noise at quality 90 (a few KB each, like CelebA's)
and the attribute and partition files (80% train, 10% validation, 10% test), and MNIST's four idx
files with random 28×28 digits (60,000 train, 10,000 test; content does not change the cost).

For each dataset: ``decode`` is ``train_batch`` with ``cache=False`` (CelebA: JPEG decode, crop,
resize per image; MNIST: bilinear resize of the batch), ``cache`` is ``train_batch`` from the
memory-mapped cache (train.data.image_cache; a gather of uint8 rows then /255). The cache is built
once before timing (its build time is printed, as is the time to open it again, which re-hashes the
file list); the cells are then timed in interleaved rounds, ``--batches`` batches per cell per
round; the table gives the median img/s with its range and the median per-round speed-up.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import struct
import tempfile
import time

import numpy as np
import torch
from PIL import Image

from train.data.folders import MNIST, CelebA
from train.device import configure_cpu


def make_celeba(root: str, n: int, seed: int = 0) -> None:
    """A CelebA-layout folder of ``n`` synthetic 178×218 JPEGs with attribute and partition files."""
    images = os.path.join(root, "celeba", "img_align_celeba")
    os.makedirs(images)
    rng = np.random.default_rng(seed)
    names = [f"{i:06d}.jpg" for i in range(1, n + 1)]
    for name in names:
        coarse = Image.fromarray(rng.integers(0, 256, (10, 8, 3), dtype=np.uint8)).resize((178, 218), Image.BICUBIC)
        noisy = np.asarray(coarse, dtype=np.int16) + rng.normal(0, 6, (218, 178, 3)).astype(np.int16)
        Image.fromarray(noisy.clip(0, 255).astype(np.uint8)).save(os.path.join(images, name), quality=90)
    attrs = [f"attr_{j}" for j in range(40)]
    lines = [str(n), " ".join(attrs)] + [f"{name} " + " ".join(rng.choice(["1", "-1"], 40)) for name in names]
    with open(os.path.join(root, "celeba", "list_attr_celeba.txt"), "w") as handle:
        handle.write("\n".join(lines) + "\n")
    split = np.where(np.arange(n) < 0.8 * n, 0, np.where(np.arange(n) < 0.9 * n, 1, 2))
    with open(os.path.join(root, "celeba", "list_eval_partition.txt"), "w") as handle:
        handle.write("".join(f"{name} {s}\n" for name, s in zip(names, split, strict=True)))


def _write_idx(path: str, array: np.ndarray) -> None:
    with open(path, "wb") as handle:
        handle.write(struct.pack(">HBB", 0, 0x08, array.ndim))
        handle.write(struct.pack(">" + "I" * array.ndim, *array.shape))
        handle.write(array.astype(np.uint8).tobytes())


def make_mnist(root: str, seed: int = 0) -> None:
    """An MNIST-layout folder (torchvision's raw idx files) of random 28×28 digits."""
    raw = os.path.join(root, "MNIST", "raw")
    os.makedirs(raw)
    rng = np.random.default_rng(seed)
    for split, n in (("train", 60000), ("t10k", 10000)):
        _write_idx(os.path.join(raw, f"{split}-images-idx3-ubyte"), rng.integers(0, 256, (n, 28, 28)))
        _write_idx(os.path.join(raw, f"{split}-labels-idx1-ubyte"), rng.integers(0, 10, n))


def timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    out = fn()
    return time.perf_counter() - started, out


def build_cells(root: str, cache_dir: str) -> dict[tuple[str, str], object]:
    """The four datasets (CelebA/MNIST × decode/cache); prints the cache's one-time costs."""
    cells = {}
    for cls in (CelebA, MNIST):
        cells[(cls.name, "decode")] = cls(root, cache=False)
        cells[(cls.name, "decode")].decode("train", [0])  # imports and first-call set-up, not the build's
        built, _ = timed(lambda cls=cls: cls(root, cache_dir=cache_dir))
        opened, cells[(cls.name, "cache")] = timed(lambda cls=cls: cls(root, cache_dir=cache_dir))
        data = cells[(cls.name, "cache")]
        size = sum(a.nbytes for a in data.cache.values()) / 2**20
        print(f"{cls.name}: {data.num_examples} train + {data.num_test} test images; cache built in "
              f"{built:.1f} s ({(data.num_examples + data.num_test) / built:.0f} img/s), {size:.0f} MB; "
              f"opened again in {opened:.2f} s", flush=True)
    return cells


def measure(cells, batch: int, batches: int, repeats: int) -> dict[tuple[str, str], list[float]]:
    """img/s of ``batches`` train batches per cell, ``repeats`` interleaved rounds."""
    rates: dict[tuple[str, str], list[float]] = {key: [] for key in cells}
    generators = {key: torch.Generator().manual_seed(0) for key in cells}
    for _ in range(repeats):
        for key, data in cells.items():
            data.train_batch(batch, generators[key])  # warm-up
            seconds, _ = timed(lambda data=data, key=key: [data.train_batch(batch, generators[key])
                                                           for _ in range(batches)])
            rates[key].append(batches * batch / seconds)
    return rates


def table(rates) -> str:
    lines = ["| dataset | decode per batch img/s | cache img/s | cache/decode (median [range] of rounds) |",
             "|---|---|---|---|"]
    for name in ("celeba", "mnist"):
        before, after = rates[(name, "decode")], rates[(name, "cache")]
        ratios = [a / b for a, b in zip(after, before, strict=True)]
        cols = [f"{statistics.median(r):,.0f} [{min(r):,.0f}–{max(r):,.0f}]" for r in (before, after)]
        lines.append(f"| {name} | {cols[0]} | {cols[1]} | {statistics.median(ratios):.1f}× "
                     f"[{min(ratios):.1f}–{max(ratios):.1f}] |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--celeba-images", type=int, default=5000, help="Synthetic CelebA JPEGs to write.")
    parser.add_argument("--batch", type=int, default=128, help="Batch size (default: 128).")
    parser.add_argument("--batches", type=int, default=10, help="Batches per cell per round.")
    parser.add_argument("--repeats", type=int, default=5, help="Interleaved rounds (median reported).")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: 2).")
    args = parser.parse_args()
    configure_cpu(args.threads)
    root = tempfile.mkdtemp(prefix="betasweep-data-bench-")
    try:
        seconds, _ = timed(lambda: (make_celeba(root, args.celeba_images), make_mnist(root)))
        jpeg_kb = np.mean([e.stat().st_size for e in os.scandir(os.path.join(root, "celeba", "img_align_celeba"))])
        print(f"synthetic folders in {root} ({seconds:.0f} s; JPEGs {jpeg_kb / 1024:.1f} KB on average); "
              f"torch threads {torch.get_num_threads()}, batch {args.batch}", flush=True)
        cells = build_cells(root, os.path.join(root, "cache"))
        print(table(measure(cells, args.batch, args.batches, args.repeats)), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
