"""Time of ``score_model`` at the end of a trial, per preset, on a Burgess model.

Usage: python benchmarks/score_time.py [--presets recon fast] [--latent-dim 6]

The model is freshly initialised (scoring cost does not depend on training); the numbers include
the encoder's cost for every image a preset encodes.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from analysis.metrics import score_model
from models import build_model
from train.data import dsprites


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["recon", "fast"], help="Presets to time.")
    parser.add_argument("--latent-dim", type=int, default=6, help="Code size (default 6).")
    args = parser.parse_args()
    data = dsprites()
    torch.manual_seed(0)
    model = build_model("beta_vae", args.latent_dim)
    for preset in args.presets:
        t = time.perf_counter()
        scores = score_model(model, data, np.random.default_rng(0), which=preset)
        print(f"{preset}: {time.perf_counter() - t:.1f} s ({len(scores)} values)", flush=True)


if __name__ == "__main__":
    main()
