"""Blur probes: what the old and the new ``blur`` and ``shape_error`` read for known changes.

Usage: python benchmarks/blur_probes.py [--images 256] [--timing-images 1024] [--threads 2]

For each image set (dSprites, 1/f noise, random hard-edged shapes) and each probe of
tests/analysis/metrics/probes.py (Gaussian blurs, gain/offset, shifts, 1-px dilation/erosion,
another sharp image, a thresholded blur, blur after a shift, sharpening, one-axis blur, the mean
image, added noise), a Markdown row: the expected blur, the previous definition
(benchmarks/legacy_blur.py), the new ``blur_score`` ± SE, ``shape_error`` ± SE and
``output_variation`` (collapsed below 0.05). Then the seconds the new scores take on
``--timing-images`` dSprites images.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the probes live with the tests

from analysis.metrics import blur_with_se, gaussian_blur, output_variation, shape_error_with_se  # noqa: E402
from benchmarks.legacy_blur import legacy_blur_score  # noqa: E402
from tests.analysis.metrics.probes import pink_noise, probes, random_shapes  # noqa: E402
from train.data import dsprites  # noqa: E402


def _cell(value: float, se: float) -> str:
    return "NaN (collapsed)" if np.isnan(value) else f"{value:+.2f} ± {se:.2f}"


def rows(sets: dict, rng) -> list[str]:
    out = ["| set | probe | expected | old blur (px) | new blur (px) | shape_error | output_variation |",
           "|---|---|---|---|---|---|---|"]
    for name, (x, other) in sets.items():
        for probe, y, expected in probes(x, other):
            exp = "–" if expected is None else f"{expected:g}"
            out.append(f"| {name} | {probe} | {exp} | {legacy_blur_score(y, x):.2f} | "
                       f"{_cell(*blur_with_se(y, x, rng))} | {_cell(*shape_error_with_se(y, x, rng))} | "
                       f"{output_variation(y, x):.3f} |")
    return out


def sharpness_rows(data: torch.Tensor, fresh: torch.Tensor, rng) -> list[str]:
    """``sharpness_px`` (the blur_samples measure) of held-out images against the data, per probe."""
    from analysis.metrics import sharpness_with_se
    from tests.analysis.metrics.probes import shift, unsharp

    g = torch.Generator().manual_seed(0)
    cases = [("the data itself (data_sharpness)", data), ("other data images", fresh),
             ("other data images shifted 3 px", shift(fresh, 0, 3)),
             *((f"Gaussian blur σ {s:g}", gaussian_blur(fresh, s)) for s in (0.5, 1.0, 2.0, 4.0)),
             ("sharpened (unsharp mask)", unsharp(fresh)),
             ("+ noise 0.05", fresh + 0.05 * torch.randn(fresh.shape, generator=g)),
             ("blur σ 2 + noise 0.05", gaussian_blur(fresh, 2.0) + 0.05 * torch.randn(fresh.shape, generator=g))]
    out = ["| dSprites images | sharpness_px vs the data (px) |", "|---|---|"]
    return out + [f"| {name} | {_cell(*sharpness_with_se(y, data, rng))} |" for name, y in cases]


def timed(fn, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=256, help="Images per probe set (default: 256).")
    p.add_argument("--timing-images", type=int, default=1024, help="dSprites images timed (default: 1024).")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default: 2).")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    n, data = args.images, dsprites()
    sets = {"dSprites": (data.eval_set(n, seed=0)[0], data.eval_set(n, seed=5)[0]),
            "1/f noise": (pink_noise(n), pink_noise(n, seed=3)),
            "random shapes": (random_shapes(n), random_shapes(n, seed=3))}
    print("\n".join(rows(sets, np.random.default_rng(0))))
    print()
    print("\n".join(sharpness_rows(*sets["dSprites"], np.random.default_rng(0))))
    x = data.eval_set(args.timing_images, seed=1)[0]
    y = gaussian_blur(x, 2.0)
    seconds = {name: timed(lambda fn=fn: fn(y, x)) for name, fn in
               (("blur_with_se", blur_with_se), ("shape_error_with_se", shape_error_with_se),
                ("legacy blur", legacy_blur_score))}
    print(f"\n{args.timing_images} dSprites images, {args.threads} threads, best of 3: "
          + ", ".join(f"{name} {s:.3f} s" for name, s in seconds.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
