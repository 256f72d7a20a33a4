"""Seconds and standard error of every disentanglement metric, per preset, on a trained model.

Usage:
    python benchmarks/metric_uncertainty.py --checkpoint DIR [--presets fast full] [--repeats 5]
    python benchmarks/metric_uncertainty.py --classifier-only --checkpoint DIR

``DIR`` is a checkpoint folder written by ``python -m train --checkpoint-dir`` (its
``step_*`` subfolder holding state.pt and meta.json). Three tables:

1. per preset and metric: seconds (code source build included once, in its own row), the score,
   the SE the metric reports, and — over ``--repeats`` independent scorings (a new pool / new
   draws each time) — the observed spread of the score, which the reported SE should match
   unless the pool adds variance of its own;
2. the BetaVAE classifier: eval accuracy at growing iteration caps for raw-feature lbfgs
   (scikit-learn's default today, betasweep's choice fitted to convergence), standardised lbfgs,
   and liblinear one-vs-rest on raw features (disentanglement_lib's classifier: the scikit-learn
   defaults of its time), on the same train/eval features, with whether the fit converged.
"""

from __future__ import annotations

import argparse
import glob
import os
import time
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from analysis.metrics import PRESETS, make_represent
from analysis.metrics.beta_vae import features_and_labels, make_classifier
from analysis.metrics.scoring import _factor_metrics, code_source
from train.checkpoints import load_checkpoint_model
from train.data import dsprites

METRICS = ("beta_vae_score", "factor_vae_score", "mig", "sap", "dci_disentanglement", "dci_informativeness")


def load_checkpoint(path: str):
    """The model of a ``python -m train`` checkpoint (the last step folder under ``path``)."""
    folders = sorted(glob.glob(os.path.join(path, "step_*"))) or [path]
    folder = folders[-1]
    return load_checkpoint_model(folder)[0], folder


def preset_table(model, data, preset: str, repeats: int) -> None:
    p = PRESETS[preset]
    represent = make_represent(model)
    runs, seconds = [], []
    for r in range(repeats):
        t = time.perf_counter()
        runs.append(_factor_metrics(data, represent, np.random.default_rng(1000 + r), p))
        seconds.append(time.perf_counter() - t)
    print(f"\n### preset {preset} ({runs[0]['metric_codes']} codes, {repeats} independent scorings)\n")
    print("| metric | score (first run) | reported SE | spread over runs (std) |\n|---|---|---|---|")
    for name in METRICS:
        if name not in runs[0]:
            continue
        values = [run[name] for run in runs]
        se = runs[0].get(f"{name}_se")
        se_text = f"{se:.4f}" if se is not None else "none (see dci.py)"
        spread = f"{np.std(values, ddof=1):.4f}" if repeats > 1 else "–"
        print(f"| {name} | {values[0]:.4f} | {se_text} | {spread} |")
    print(f"\nwhole factor suite (code source included) {np.median(seconds):.1f} s per scoring (median of {repeats})")


def per_metric_seconds(model, data, preset: str) -> None:
    """Seconds of each metric alone on one code source (built once, timed in its own row)."""
    from analysis.metrics import beta_vae_score, dci, factor_vae_score, mig_with_se, sap_with_se

    p = PRESETS[preset]
    rng = np.random.default_rng(0)
    t = time.perf_counter()
    source = code_source(data, make_represent(model), rng, p)
    rows = [(f"code source ({source.kind})", time.perf_counter() - t)]
    calls = [("beta_vae_score", lambda: beta_vae_score(source, rng, p.batch_size, p.beta_vae_train, p.beta_vae_eval)),
             ("factor_vae_score", lambda: factor_vae_score(source, rng, p.batch_size, p.factor_vae_train,
                                                           p.factor_vae_eval, p.factor_vae_variance)),
             ("mig (+ bootstrap SE)", lambda: mig_with_se(*source.sample(p.mig_points, rng)[::-1], rng)),
             ("sap (+ bootstrap SE)", lambda: sap_with_se(*source.sample(p.sap_train, rng)[::-1],
                                                          *source.sample(p.sap_test, rng)[::-1], rng))]
    if p.dci_train:
        calls.append(("dci", lambda: dci(*source.sample(p.dci_train, rng)[::-1],
                                         *source.sample(p.dci_test, rng)[::-1])))
    for name, call in calls:
        t = time.perf_counter()
        call()
        rows.append((name, time.perf_counter() - t))
    print(f"\n### seconds per metric, preset {preset}\n\n| step | seconds |\n|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.2f} |")


def fit_accuracy(model, x_train, y_train, x_eval, y_eval) -> tuple[float, bool]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(x_train, y_train)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return float(np.mean(model.predict(x_eval) == y_eval)), converged


def classifier_table(model, data, num_train: int, num_eval: int) -> None:
    p = PRESETS["fast"]
    rng = np.random.default_rng(0)
    source = code_source(data, make_represent(model), rng, p)
    x_train, y_train = features_and_labels(source, num_train, p.batch_size, rng)
    x_eval, y_eval = features_and_labels(source, num_eval, p.batch_size, rng)
    print(f"\n### BetaVAE classifier ({num_train} train / {num_eval} eval points, pooled codes)\n")
    scale = x_train.std(axis=0)
    print(f"feature std per code dim: {', '.join(f'{s:.3g}' for s in scale)}\n")
    print("| max_iter | lbfgs raw (betasweep) | standardised lbfgs | liblinear OvR raw (disentanglement_lib) |")
    print("|---|---|---|---|")
    for cap in (25, 50, 100, 200, 500, 1000, 2000):
        cells = []
        for clf in (make_classifier(0, cap), make_pipeline(StandardScaler(), LogisticRegression(max_iter=cap)),
                    OneVsRestClassifier(LogisticRegression(solver="liblinear", max_iter=cap, random_state=0))):
            acc, ok = fit_accuracy(clf, x_train, y_train, x_eval, y_eval)
            cells.append(f"{acc:.4f}{'' if ok else ' (not converged)'}")
        print(f"| {cap} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="Checkpoint folder of a trained model.")
    parser.add_argument("--presets", nargs="+", default=["fast"], help="Presets to measure (fast, full).")
    parser.add_argument("--repeats", type=int, default=5, help="Independent scorings per preset.")
    parser.add_argument("--classifier-only", action="store_true", help="Only the classifier table.")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2).")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, folder = load_checkpoint(args.checkpoint)
    print(f"model: {model.config} from {folder}")
    data = dsprites()
    if not args.classifier_only:
        for preset in args.presets:
            preset_table(model, data, preset, args.repeats if preset == "fast" else 1)
            per_metric_seconds(model, data, preset)
    classifier_table(model, data, PRESETS["fast"].beta_vae_train, PRESETS["fast"].beta_vae_eval)


if __name__ == "__main__":
    main()
