"""The seed report's claims, checked on a grid study with seed intervals.

Usage:
    python -m study.run --preset seed-dsprites                       # the grid: 10 configs × 3 seeds
    python benchmarks/seed_claims.py --study seed-dsprites-YYYYMMDD-HHMMSS \\
        --csv benchmarks/data/seed-dsprites.csv --figure docs/seed-dsprites-samples.png
    python benchmarks/seed_claims.py --from-csv benchmarks/data/seed-dsprites.csv   # tables only

Claims (the seed report's, on dSprites): (i) higher β gives blurrier reconstructions; (ii) higher
β costs reconstruction; (iii) β-TCVAE is more disentangled than β-VAE and VAE (MIG, BetaVAE);
(iv) AE samples from the prior are meaningless. Differences are given with Welch 95% confidence
intervals over seeds (trials of a configuration differ only by seed). A claim is *confirmed* when
every interval it needs excludes 0 in its direction, *contradicted* when one excludes 0 the
other way, else *not at this budget*.

For (iv), besides ``blur_samples`` (sharpness, px), each model type's seed-0 model is loaded from
MLflow and 512 prior samples are compared with 512 data images: the mean pixel distance between
two random samples over the same for two data images (diversity: 1 = as varied as the data), and
the mean nearest-data distance (per pixel) of a sample to 4,096 data images (are they data-like).
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import pandas as pd
from scipy import stats

from analysis.schema import Artifact, Tag, se_name

SCORES = ("recon_error", "blur", "shape_error", "blur_samples", "mig", "beta_vae_score", "factor_vae_score")
COLUMNS = ["model_type", "beta", "seed", Tag.TRIAL_STATUS, *SCORES, *(se_name(s) for s in SCORES),
           "collapsed", "output_variation", "data_sharpness", "recon_error_sampled", "train_seconds", "run_id"]


def load(args) -> pd.DataFrame:
    if args.from_csv:
        return pd.read_csv(args.from_csv)
    from analysis.runs import load_runs

    df = load_runs(args.study, tracking_uri=args.tracking_uri)
    df = df[df["ok"]][[c for c in COLUMNS if c in df.columns]].sort_values(["model_type", "beta", "seed"])
    if args.csv:
        os.makedirs(os.path.dirname(os.path.abspath(args.csv)), exist_ok=True)
        df.to_csv(args.csv, index=False)
        print(f"wrote {args.csv} ({len(df)} trials)")
    return df


def config_table(df: pd.DataFrame) -> str:
    """Mean ± std over seeds of each score, one row per configuration; a collapsed trial's blur and
    shape_error are NaN and left out (the row says how many seeds collapsed)."""
    frame = df.assign(beta=df["beta"].fillna(1.0))
    scores = [s for s in SCORES if s in frame.columns]
    lines = ["| model | β | seeds | collapsed | " + " | ".join(scores) + " |",
             "|---|---|---|---|" + "---|" * len(scores)]
    for (mt, beta), g in frame.groupby(["model_type", "beta"], sort=False):
        cells = [f"{g[s].mean():.3f} ± {g[s].std():.3f}" for s in scores]
        collapsed = int((g["collapsed"] == 1).sum()) if "collapsed" in g.columns else 0
        lines.append(f"| {mt} | {beta:g} | {len(g)} | {collapsed} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def diff(a: pd.Series, b: pd.Series) -> tuple[float, float, float]:
    """mean(a) − mean(b) with its Welch 95% confidence interval (NaN values, e.g. the blur of a
    collapsed trial, left out)."""
    a, b = a.dropna(), b.dropna()
    test = stats.ttest_ind(a, b, equal_var=False)
    ci = test.confidence_interval(0.95)
    return float(a.mean() - b.mean()), float(ci.low), float(ci.high)


def verdict(intervals: list[tuple[float, float, float]]) -> str:
    if all(lo > 0 for _, lo, _ in intervals):
        return "confirmed"
    if any(hi < 0 for _, _, hi in intervals):
        return "contradicted"
    return "not at this budget"


def fmt(d: tuple[float, float, float]) -> str:
    return f"{d[0]:+.3f} [{d[1]:+.3f}, {d[2]:+.3f}]"


def beta_claim(df: pd.DataFrame, score: str, label: str) -> list[str]:
    """Claims (i)/(ii), per β-model: the trend of ``score`` over β (Spearman ρ over all its trials,
    one-sided test ρ > 0) decides; score(β=16) − score(β=2) with its 95% CI gives the size."""
    rows, confirmed = [], []
    for mt in ("beta_vae", "beta_tcvae"):
        g = df[df["model_type"] == mt].dropna(subset=[score])
        d = diff(g[g["beta"] == 16][score], g[g["beta"] == 2][score])
        rho = stats.spearmanr(g["beta"], g[score], alternative="greater")
        ok = bool(rho.pvalue < 0.05)
        confirmed.append(ok)
        rows.append(f"| {mt} | {rho.statistic:+.2f} (one-sided p = {rho.pvalue:.2g}) | {fmt(d)} | "
                    f"{'confirmed' if ok else 'not at this budget'} |")
    overall = "confirmed" if all(confirmed) else ("partly confirmed" if any(confirmed) else "not at this budget")
    used = {mt: int(df[df["model_type"] == mt][score].notna().sum()) for mt in ("beta_vae", "beta_tcvae")}
    head = [f"**{label}: {overall}** — trend of {score} over β (Spearman ρ over the trials with a {score}: "
            f"{used['beta_vae']} β-VAE, {used['beta_tcvae']} β-TCVAE), and {score}(β=16) − {score}(β=2) "
            "with its Welch 95% CI over seeds", "",
            "| model | Spearman ρ of β vs score | β=16 − β=2 [95% CI] | verdict |", "|---|---|---|---|"]
    return head + rows + [""]


def tcvae_claim(df: pd.DataFrame) -> list[str]:
    """Claim (iii): β-TCVAE − β-VAE at each β, and β-TCVAE (all β) − VAE, for MIG and BetaVAE."""
    lines, intervals = [], []
    tc, bv, vae = (df[df["model_type"] == m] for m in ("beta_tcvae", "beta_vae", "vae"))
    lines += ["| comparison | MIG difference [95% CI] | BetaVAE difference [95% CI] |", "|---|---|---|"]
    for beta in sorted(tc["beta"].dropna().unique()):
        ds = [diff(tc[tc["beta"] == beta][s], bv[bv["beta"] == beta][s]) for s in ("mig", "beta_vae_score")]
        intervals += ds
        lines.append(f"| β-TCVAE − β-VAE at β = {beta:g} | {fmt(ds[0])} | {fmt(ds[1])} |")
    pooled = [diff(tc[s], bv[s]) for s in ("mig", "beta_vae_score")]
    lines.append(f"| β-TCVAE − β-VAE, all β pooled | {fmt(pooled[0])} | {fmt(pooled[1])} |")
    ds = [diff(tc[s], vae[s]) for s in ("mig", "beta_vae_score")]
    lines.append(f"| β-TCVAE (all β) − VAE | {fmt(ds[0])} | {fmt(ds[1])} |")
    verdicts = {"vs β-VAE at every β": verdict(intervals), "vs β-VAE pooled": verdict(pooled),
                "vs VAE": verdict(ds)}
    summary = "; ".join(f"{k}: {v}" for k, v in verdicts.items())
    return [f"**(iii) β-TCVAE is more disentangled than β-VAE and VAE** — {summary} (a comparison is "
            f"confirmed when the CIs of MIG and BetaVAE both exclude 0)", ""] + lines + [""]


def sample_study(df: pd.DataFrame, tracking_uri: str | None, figure: str | None) -> list[str]:
    """Claim (iv): sharpness, diversity and data-likeness of prior samples, seed 0 of each type."""
    import torch
    from mlflow.tracking import MlflowClient

    from analysis.schema import default_tracking_uri
    from models import load_model
    from train.data import dsprites

    client = MlflowClient(tracking_uri or default_tracking_uri())
    data = dsprites()
    real = data.eval_set(4096, seed=3)[0].flatten(1)
    pick = {"ae": None, "vae": None, "beta_vae": 4.0, "beta_tcvae": 4.0}
    lines = ["| model (seed 0) | blur_samples (px) | diversity vs data | nearest-data distance (per pixel) |",
             "|---|---|---|---|"]
    base = torch.cdist(real[:512], real[512:1024]).mean() / np.sqrt(real.shape[1])
    grids = {}
    for mt, beta in pick.items():
        same_beta = df["beta"].isna() if beta is None else df["beta"] == beta
        g = df[(df["model_type"] == mt) & (df["seed"] == 0) & same_beta]
        path = client.download_artifacts(g.iloc[0]["run_id"], f"{Artifact.MODEL_DIR}/{Artifact.MODEL_FILE}")
        model = load_model(path).eval()
        gen = torch.Generator().manual_seed(0)
        with torch.no_grad():
            samples = model.sample(512, generator=gen)
        flat = samples.flatten(1)
        diversity = torch.cdist(flat[:256], flat[256:]).mean() / np.sqrt(flat.shape[1]) / base
        nearest = torch.cdist(flat, real).min(dim=1).values.mean() / np.sqrt(flat.shape[1])
        label = mt + (f" β={beta:g}" if beta else "")
        lines.append(f"| {label} | {g.iloc[0]['blur_samples']:.2f} | {float(diversity):.2f} | {float(nearest):.3f} |")
        grids[label] = samples[:36]
    data_nn = torch.cdist(real[:512], real[1024:]).topk(1, largest=False).values.mean() / np.sqrt(real.shape[1])
    lines.append(f"| data (512 held-out images) | {df['data_sharpness'].iloc[0]:.2f} | 1.00 | {float(data_nn):.3f} |")
    if figure:
        save_sample_figure(grids, figure)
        lines += ["", f"![prior samples]({figure})"]
    return lines + [""]


def save_sample_figure(grids, path: str) -> None:
    """Side by side 6×6 grids of prior samples, in the seed report's order."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from torchvision.utils import make_grid

    fig, axes = plt.subplots(1, len(grids), figsize=(4 * len(grids), 4.4))
    for ax, (label, images) in zip(axes, grids.items(), strict=True):
        ax.imshow(make_grid(images, nrow=6, padding=2, pad_value=0.5).permute(1, 2, 0).numpy())
        ax.set_title(label)
        ax.axis("off")
    fig.suptitle("samples from the prior N(0, I), seed-0 model of each type (seed-dsprites grid, 900 steps)")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", help="Study name in MLflow (python -m analysis list).")
    parser.add_argument("--tracking-uri", default=None, help="MLflow URI (default: the local store).")
    parser.add_argument("--csv", default=None, help="Also save the per-trial scores here.")
    parser.add_argument("--from-csv", default=None, help="Read per-trial scores from a CSV instead.")
    parser.add_argument("--figure", default=None, help="Write the prior-sample figure here (needs --study).")
    args = parser.parse_args()
    if not (args.study or args.from_csv):
        parser.error("give --study or --from-csv")
    df = load(args)
    out = ["### Scores per configuration (mean ± std over seeds)", "", config_table(df), ""]
    out += beta_claim(df, "blur", "(i) higher β gives blurrier reconstructions")
    if "shape_error" in df.columns:  # not a claim of the seed report: what blur no longer counts
        out += beta_claim(df, "shape_error", "(i′) higher β gives larger shape errors")
    out += beta_claim(df, "recon_error", "(ii) higher β costs reconstruction")
    out += tcvae_claim(df)
    if args.study:
        out += ["**(iv) AE samples from the prior**", ""] + sample_study(df, args.tracking_uri, args.figure)
    print("\n".join(out))


if __name__ == "__main__":
    main()
