"""The seed report's grids read back: each study's per-trial scores as a CSV, and a figure of prior
samples from the seed-0 model of each type. The verdicts are not made here: they come from
``python -m analysis tradeoff --study NAME --claims benchmarks/seed-report-claims.yaml``.

Usage::

    python benchmarks/seed_grids.py --tracking-uri sqlite:///ROOT/mlflow.db \\
        --study seed-claims-20261206 --csv benchmarks/data/seed-claims-3000.csv
    python benchmarks/seed_grids.py --tracking-uri sqlite:///ROOT/mlflow.db \\
        --study ae-prior-20261206 --study seed-claims-20261206 --figure docs/seed-claims-samples.png
"""

from __future__ import annotations

import argparse
import os
import sys

import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from analysis.schema import Artifact, Tag, se_name  # noqa: E402

SCORES = ("recon_error", "blur", "shape_error", "blur_samples", "sample_distance", "mig", "beta_vae_score",
          "factor_vae_score")
COLUMNS = ["model_type", "beta", "seed", Tag.TRIAL_STATUS, *SCORES, *(se_name(s) for s in SCORES),
           "collapsed", "output_variation", "data_sharpness", "data_distance", "recon_error_sampled",
           "train_seconds", "run_id"]
#: (model type, β) of the models drawn, in the seed report's order; the first study holding one wins.
PICK = (("ae", None), ("vae", None), ("beta_vae", 4.0), ("beta_tcvae", 4.0))


def trials(study: str, uri: str) -> pd.DataFrame:
    from analysis.runs import load_runs

    df = load_runs(study, tracking_uri=uri)
    df = df[df["ok"]][[c for c in COLUMNS if c in df.columns]]
    return df.sort_values(["model_type", "beta", "seed"]).assign(study=study)


def prior_samples(df: pd.DataFrame, uri: str) -> dict:
    """label → 36 prior samples of the seed-0 model of each type in :data:`PICK` present in ``df``."""
    import mlflow
    import mlflow.pytorch
    import torch

    mlflow.set_tracking_uri(uri)  # runs:/…/model resolves through the run's logged model, looked up here
    grids = {}
    for model_type, beta in PICK:
        same = df["beta"].isna() if beta is None else df["beta"] == beta
        rows = df[(df["model_type"] == model_type) & (df["seed"] == 0) & same]
        if rows.empty:
            continue
        row = rows.iloc[0]
        model = mlflow.pytorch.load_model(f"runs:/{row['run_id']}/{Artifact.MODEL_DIR}", map_location="cpu")
        with torch.no_grad():
            samples = model.eval().sample(36, generator=torch.Generator().manual_seed(0))
        label = model_type + (f" β={beta:g}" if beta else "") + f"\n{row['study']}"
        grids[label] = samples
    return grids


def save_figure(grids: dict, path: str) -> None:
    """Side-by-side 6 × 6 grids of prior samples."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from torchvision.utils import make_grid

    fig, axes = plt.subplots(1, len(grids), figsize=(3.6 * len(grids), 4.4), squeeze=False)
    for ax, (label, images) in zip(axes[0], grids.items(), strict=True):
        ax.imshow(make_grid(images, nrow=6, padding=2, pad_value=0.5).permute(1, 2, 0).numpy())
        ax.set_title(label, fontsize=9)
        ax.axis("off")
    fig.suptitle("samples from the prior N(0, I), seed-0 model of each type")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", action="append", required=True, help="Study name (repeat for several).")
    parser.add_argument("--tracking-uri", required=True, help="The studies' MLflow URI.")
    parser.add_argument("--csv", default=None, help="Write the studies' per-trial scores here.")
    parser.add_argument("--figure", default=None, help="Write the prior-sample figure here.")
    args = parser.parse_args(argv)
    df = pd.concat([trials(s, args.tracking_uri) for s in args.study], ignore_index=True)
    if args.csv:
        os.makedirs(os.path.dirname(os.path.abspath(args.csv)), exist_ok=True)
        df.drop(columns="study" if len(args.study) == 1 else []).to_csv(args.csv, index=False)
        print(f"wrote {args.csv} ({len(df)} trials)")
    if args.figure:
        save_figure(prior_samples(df, args.tracking_uri), args.figure)
        print(f"wrote {args.figure}")


if __name__ == "__main__":
    main()
