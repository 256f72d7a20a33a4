"""``python -m train.data.show NAME``: save a PNG grid of examples so a person can look at the data.

For ground-truth datasets a second grid varies one factor per row (all others fixed), which shows
what each factor does; it is written next to the first as ``<out>-factors.png``.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch
from torchvision.utils import save_image

from train.data import DATASETS, get_dataset


def factor_grid(data, columns: int = 10, seed: int = 0) -> torch.Tensor:
    """Images (rows·columns, C, 64, 64): row r varies factor r over evenly spaced values."""
    base = data.sample_factors(1, np.random.default_rng(seed))[0]
    rows = []
    for k, size in enumerate(data.factor_sizes):
        if size == 1:
            continue
        values = np.unique(np.linspace(0, size - 1, min(columns, size)).round().astype(int))
        f = np.repeat(base[None], columns, axis=0)
        f[:, k] = np.resize(values, columns)
        rows.append(data.observations(f))
    return torch.cat(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.data.show",
                                     description="Save a PNG grid of example images of a dataset.")
    parser.add_argument("name", choices=sorted(DATASETS), help="Dataset to show.")
    parser.add_argument("--out", default=None, help="PNG file to write (default: <name>-examples.png).")
    parser.add_argument("--n", type=int, default=64, help="Number of random examples (default 64).")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the examples (default 0).")
    parser.add_argument("--data-root", default=None, help="Folder holding the official files of a dataset read "
                        f"from disk ({', '.join(n for n, e in DATASETS.items() if e.folder)}; with dsprites: "
                        "the official .npz).")
    args = parser.parse_args(argv)
    try:
        data = get_dataset(args.name, root=args.data_root)
    except (ValueError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = args.out or f"{args.name}-examples.png"
    images, _ = data.eval_set(args.n, seed=args.seed)
    save_image(images, out, nrow=int(np.ceil(np.sqrt(args.n))), padding=2, pad_value=0.5)
    print(f"wrote {out}")
    if getattr(data, "has_factors", False):
        factors_out = os.path.splitext(out)[0] + "-factors.png"
        save_image(factor_grid(data, seed=args.seed), factors_out, nrow=10, padding=2, pad_value=0.5)
        names = [n for n, s in zip(data.factor_names, data.factor_sizes, strict=True) if s > 1]
        print(f"wrote {factors_out} (rows: {', '.join(names)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
