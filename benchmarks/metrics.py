"""Time of each disentanglement metric, vectorised vs the loop-by-loop oracle, with both values.

Every metric here reads *live* codes (each draw rendered and encoded, ``LiveCodes``) at the
preset's sample sizes; ``benchmarks/metric_uncertainty.py`` times the presets as a trial runs them
(pooled or whole-grid codes) on a trained model.

Usage: python benchmarks/metrics.py [--preset fast|full|both]

The representation is a fixed synthetic 10-dim code read off the rendered dSprites images (shape
centroid x and y and area, slightly jittered, plus 7 pure-noise dims), so
so the timing includes rendering and a representation call like a trained model's (minus the
encoder's cost, which the trial pays in proportion to the number of images: printed too).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from analysis.metrics import PRESETS, LiveCodes, beta_vae_score, dci, factor_vae_score, mig, sap
from analysis.metrics._common import represent_in_chunks
from analysis.metrics.beta_vae import pair_features, sample_pairs
from train.data import dsprites

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the oracle lives with the tests
from tests.analysis.metrics.oracle import beta_vae_features_loop, mig_loop  # noqa: E402

DATA = dsprites()
_PROJECTION = torch.randn(64 * 64, 10, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def represent(images: torch.Tensor) -> np.ndarray:
    """A code read off the images themselves (so it needs the rendering): centroid, area, noise."""
    x = images[:, 0].double()
    mass = x.sum((1, 2)).clamp_min(1)
    grid = torch.arange(64, dtype=torch.float64)
    cy = (x.sum(2) * grid).sum(1) / mass
    cx = (x.sum(1) * grid).sum(1) / mass
    # per-image pseudo-noise (a fixed hash of the pixels), so the code is a function of the image
    noise = (torch.sin(x.flatten(1) @ _PROJECTION) * 43758.5453).frac().numpy() - 0.5
    informative = torch.stack([cx / 64, cy / 64, mass / 500], 1).numpy() + 0.02 * noise[:, :3]
    return np.c_[informative, noise[:, 3:]]  # 3 informative dims + 7 noise dims


def timed(fn):
    t = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t


def run(preset_name: str) -> None:
    p = PRESETS[preset_name]
    rng = lambda: np.random.default_rng(0)  # noqa: E731
    print(f"\n## preset {preset_name}\n\n| metric | vectorised s | value | oracle s | oracle value |\n"
          "|---|---|---|---|---|")
    f = DATA.sample_factors(p.mig_points, rng())
    codes = represent_in_chunks(DATA, represent, f)
    v, t = timed(lambda: mig(codes, f))
    ov, ot = timed(lambda: mig_loop(codes, f))
    print(f"| MIG ({p.mig_points} pts) | {t:.3f} | {v:.4f} | {ot:.3f} | {ov:.4f} |")
    live = LiveCodes(DATA, represent)
    n = min(p.beta_vae_train, 200)
    (labels, (f1, c1), (f2, c2)), t = timed(lambda: sample_pairs(live, n, 64, rng()))
    feats = pair_features(c1, c2, 64)
    ofeats, ot = timed(lambda: beta_vae_features_loop(DATA, represent, f1.reshape(n, 64, -1), f2.reshape(n, 64, -1)))
    print(f"| BetaVAE features ({len(labels)} pts × 2 × 64 imgs) | {t:.3f} | max abs diff vs oracle "
          f"{np.abs(feats - ofeats).max():.1e} | {ot:.3f} | – |")
    v, t = timed(lambda: beta_vae_score(live, rng(), 64, p.beta_vae_train, p.beta_vae_eval))
    print(f"| BetaVAE score ({p.beta_vae_train}/{p.beta_vae_eval}) | {t:.2f} | {v['eval_accuracy']:.3f} | – | – |")
    v, t = timed(lambda: factor_vae_score(live, rng(), 64, p.factor_vae_train, p.factor_vae_eval,
                                          p.factor_vae_variance))
    print(f"| FactorVAE score ({p.factor_vae_train}/{p.factor_vae_eval}) | {t:.2f} | "
          f"{v['eval_accuracy']:.3f} | – | – |")
    ft, fe = DATA.sample_factors(p.sap_train, rng()), DATA.sample_factors(p.sap_test, np.random.default_rng(1))
    ct, ce = represent_in_chunks(DATA, represent, ft), represent_in_chunks(DATA, represent, fe)
    v, t = timed(lambda: sap(ct, ft, ce, fe))
    print(f"| SAP ({p.sap_train}/{p.sap_test}) | {t:.2f} | {v:.4f} | (same sklearn loop) | – |")
    n_dci = p.dci_train or 500
    ft, fe = DATA.sample_factors(n_dci, rng()), DATA.sample_factors(n_dci // 2, np.random.default_rng(1))
    ct, ce = represent_in_chunks(DATA, represent, ft), represent_in_chunks(DATA, represent, fe)
    v, t = timed(lambda: dci(ct, ft, ce, fe))
    note = "" if p.dci_train else " (not in this preset)"
    print(f"| DCI ({n_dci}/{n_dci // 2}){note} | {t:.2f} | D={v['disentanglement']:.3f} | (same sklearn loop) | – |")
    images = 2 * 64 * (p.beta_vae_train + p.beta_vae_eval) + p.factor_vae_variance + 64 * (
        p.factor_vae_train + p.factor_vae_eval) + p.mig_points + p.dci_train + p.dci_test + p.sap_train + p.sap_test
    print(f"\nimages a model must encode for this preset: {images:,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=("fast", "full", "both"), default="both", help="Which preset(s).")
    args = parser.parse_args()
    for name in (("fast", "full") if args.preset == "both" else (args.preset,)):
        run(name)


if __name__ == "__main__":
    main()
