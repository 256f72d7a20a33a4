"""Blur probes: known Gaussian blur, gain/offset and noise on dSprites and generated textures.

Usage: python benchmarks/blur_probes.py [--images 64] [--timing-images 1024] [--threads 2]

Prints a Markdown table: for each image set and probe, the old Laplacian-energy score
(1 − E(probe)/E(original), E = mean squared 5-point Laplacian; computed here for comparison),
``blur_score`` (equivalent Gaussian σ, px, against the originals) and ``sharpness_px`` (no
reference, px, calibrated on dSprites). Blur probes use ``gaussian_blur``, the definition of σ.
Then the seconds ``blur_score`` and ``sharpness_px`` take on ``--timing-images`` dSprites images.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from analysis.metrics import blur_score, gaussian_blur, sharpness_px
from study.data import dsprites

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the texture generators live with the tests
from tests.analysis.metrics.test_blur import pink_noise, random_shapes  # noqa: E402

SIGMAS = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
_LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]).view(1, 1, 3, 3)


def laplacian_score(outputs: torch.Tensor, originals: torch.Tensor) -> float:
    """The previous definition: 1 − E(outputs)/E(originals), E the mean squared Laplacian."""
    def energy(x):
        return float(F.conv2d(x.reshape(-1, 1, *x.shape[-2:]).float(), _LAPLACIAN).square().mean())
    return 1.0 - energy(outputs) / energy(originals)


def probes(x: torch.Tensor, generator: torch.Generator):
    """(name, images) pairs: Gaussian blurs, gain/offset changes and added noise."""
    for s in SIGMAS:
        yield f"σ = {s:g}", gaussian_blur(x, s)
    for s in (0.0, 2.0):
        for gain, offset in ((0.5, 0.25), (0.8, 0.1)):
            yield f"{gain:g}·x + {offset:g}, σ = {s:g}", gain * gaussian_blur(x, s) + offset
    for s, amplitude in ((0.0, 0.05), (0.0, 0.1), (2.0, 0.05)):
        noise = amplitude * torch.randn(x.shape, generator=generator)
        yield f"+ noise {amplitude:g}, σ = {s:g}", gaussian_blur(x, s) + noise


def timed(fn, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=64, help="Images per probe set (default: 64).")
    p.add_argument("--timing-images", type=int, default=1024, help="dSprites images timed (default: 1024).")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default: 2).")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    sets = {"dSprites": dsprites().eval_set(args.images, seed=0)[0],
            "1/f noise": pink_noise(args.images), "random shapes": random_shapes(args.images)}
    print("| set | probe | Laplacian score (old) | blur_score (px) | sharpness_px (px) |")
    print("|---|---|---|---|---|")
    for name, x in sets.items():
        for probe, y in probes(x, torch.Generator().manual_seed(0)):
            print(f"| {name} | {probe} | {laplacian_score(y, x):.3f} | {blur_score(y, x):.3f} | "
                  f"{sharpness_px(y):.3f} |")
    x = dsprites().eval_set(args.timing_images, seed=1)[0]
    y = gaussian_blur(x, 2.0)
    print(f"\n{args.timing_images} dSprites images, {args.threads} threads, best of 3: blur_score "
          f"{timed(lambda: blur_score(y, x)):.3f} s, sharpness_px {timed(lambda: sharpness_px(y)):.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
