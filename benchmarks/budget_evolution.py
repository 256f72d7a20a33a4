"""How MIG, BetaVAE and blur evolve with the training budget: score saved checkpoints of one run.

Usage:
    python -m train --model-type beta_tcvae --beta 8 --latent-dim 10 --lr 0.001 \\
        --kl-warmup-steps 300 --steps 9000 --checkpoint-every 300 --metrics recon \\
        --num-threads 1 --checkpoint-dir runs/budget/beta_tcvae
    python benchmarks/budget_evolution.py runs/budget/vae runs/budget/beta_tcvae --steps 900 3000 9000

Each checkpoint folder (``step_<n>`` under the run's checkpoint dir) is scored with the ``fast``
metric preset exactly as a trial scores itself at the end (same eval set, same RNG seed), so the
numbers at step 900 are those a 900-step trial of the same seed would report. Prints one Markdown
row per (run, step): blur and blur_samples in px, MIG, BetaVAE and FactorVAE with their SEs.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch

from analysis.metrics import score_model
from train.checkpoints import load_checkpoint_model
from train.data import dsprites

COLUMNS = ("recon_error", "blur", "blur_samples", "mig", "beta_vae_score", "factor_vae_score")


def cell(scores: dict, name: str) -> str:
    se = scores.get(f"{name}_se")
    return f"{scores[name]:.3f}" + (f" ± {se:.3f}" if se is not None else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="Checkpoint dirs of python -m train runs.")
    parser.add_argument("--steps", nargs="+", type=int, default=[900, 3000, 9000], help="Steps to score.")
    parser.add_argument("--threads", type=int, default=2, help="torch threads.")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = dsprites()
    print("| run | step | " + " | ".join(COLUMNS) + " |\n|---|---|" + "---|" * len(COLUMNS))
    for run in args.runs:
        for step in args.steps:
            folder = os.path.join(run, f"step_{step:08d}")
            if not os.path.isdir(folder):
                print(f"| {run} | {step} | missing checkpoint {folder} |")
                continue
            model, meta = load_checkpoint_model(folder)
            trial = meta["config"]
            eval_images, eval_labels = data.eval_set(trial["eval_size"], seed=0)
            scores = score_model(model, data, np.random.default_rng(trial["seed"]), which="fast",
                                 eval_images=eval_images, eval_labels=eval_labels)
            name = (f"{trial['model_type']} β={trial['beta']:g}" if "beta" in trial["model_type"]
                    else trial["model_type"])
            print(f"| {name} | {step} | " + " | ".join(cell(scores, c) for c in COLUMNS) + " |", flush=True)


if __name__ == "__main__":
    main()
