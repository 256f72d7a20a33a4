"""Export the learning curves of a grid study's trials from MLflow to a CSV in the repository.

Usage:
    python benchmarks/export_curves.py --tracking-uri sqlite:////path/to/betasweep-runs/mlflow.db \\
        --scores benchmarks/data/seed-dsprites.csv --out benchmarks/data/seed-dsprites-curves.csv

The search-efficiency benchmark (``benchmarks/search_efficiency.py``) replays searches against a
surrogate built from real trials; its budget axis needs each trial's curves, which only the MLflow
store holds. This script copies them once, so the benchmark runs from the repository alone. The
trials are the run_ids of ``--scores`` (the per-trial CSV ``seed_grids.py --csv`` writes); every
one must belong to ``--study`` when that is given (a study tag, e.g. seed-dsprites-20261126-233535),
so curves of an aborted run of the same preset cannot slip in. Read-only: the store is only queried.
"""

from __future__ import annotations

import argparse

import pandas as pd

#: Curves logged during training (every ``report_every`` steps), as MLflow metric keys.
CURVES = ("val_recon_error", "train/loss", "train/recon", "train/kl")


def export(tracking_uri: str, scores: pd.DataFrame, study: str | None) -> pd.DataFrame:
    """One row per (trial, step): run_id, model_type, beta, seed, step and one column per curve
    (``train/loss`` becomes ``train_loss``)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    rows = []
    for trial in scores.itertuples(index=False):
        run = client.get_run(trial.run_id)
        if study is not None and run.data.tags.get("study") != study:
            raise SystemExit(f"run {trial.run_id} belongs to study {run.data.tags.get('study')!r}, not {study!r}")
        by_step: dict[int, dict] = {}
        for key in CURVES:
            for point in client.get_metric_history(trial.run_id, key):
                by_step.setdefault(point.step, {})[key.replace("/", "_")] = point.value
        for step in sorted(by_step):
            rows.append({"run_id": trial.run_id, "model_type": trial.model_type, "beta": trial.beta,
                         "seed": trial.seed, "step": step, **by_step[step]})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", required=True, help="MLflow store holding the study's runs.")
    parser.add_argument("--scores", default="benchmarks/data/seed-dsprites.csv", help="Per-trial CSV (run_id).")
    parser.add_argument("--study", default=None, help="Study tag every run must carry.")
    parser.add_argument("--out", default="benchmarks/data/seed-dsprites-curves.csv", help="CSV to write.")
    args = parser.parse_args()
    curves = export(args.tracking_uri, pd.read_csv(args.scores), args.study)
    curves.to_csv(args.out, index=False, float_format="%.6g")
    print(f"wrote {args.out}: {curves.run_id.nunique()} trials, {len(curves)} rows")


if __name__ == "__main__":
    main()
