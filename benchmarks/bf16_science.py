"""bf16 vs fp32: does training in bf16 change the science? The same trials in both precisions.

Usage: python benchmarks/bf16_science.py [--steps 3000] [--seeds 0,1,2] [--workers 2] [--csv PATH]
       python benchmarks/bf16_science.py --from-csv benchmarks/data/bf16-science.csv

VAE, β-TCVAE (β = 8) and FactorVAE (γ = 10), latent 10, lr 1e-3, KL warm-up 300, batch 64, the
``fast`` metric preset; each seed once with ``amp: false`` and once with ``amp: true``, through
``train.trial.train_and_evaluate`` (no Ray), ``--workers`` processes at a time with one torch thread
each (a seed's two precisions side by side). Rows are appended to ``--csv`` as trials finish; a
rerun skips what is there. The table: mean ± SD over seeds per precision, the paired (same seed)
difference bf16 − fp32 with its 95% t interval, and per model the verdict by the rule in
:data:`RULE`. A model type that disagrees keeps fp32 under ``amp: auto``
(``bf16_under_auto = False`` on its class).
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context

MODELS = {"vae": {}, "beta_tcvae": {"beta": 8.0}, "factor_vae": {"gamma": 10.0}}
TRIAL = {"latent_dim": 10, "lr": 1e-3, "kl_warmup_steps": 300, "batch_size": 64, "metrics": "fast",
         "num_threads": 1, "report_every": 100, "dataset": "dsprites", "device": "cpu"}
SCORES = ("recon_error", "blur", "mig", "beta_vae_score")
PRECISIONS = {"fp32": False, "bf16": True}
COLUMNS = ("model_type", "precision", "seed", "steps", *SCORES, "train_seconds", "images_per_second",
           "trial_seconds")
RULE = "agrees when every score's |mean difference| ≤ the larger of the fp32 and bf16 seed SDs"


def run_one(model_type: str, precision: str, seed: int, steps: int) -> dict:
    """One trial in this (worker) process; its scores, training time and median img/s."""
    from train.steps import COMPLETED
    from train.trial import train_and_evaluate
    from train.validation import trial_from_dict

    config = trial_from_dict({**TRIAL, **MODELS[model_type], "model_type": model_type, "seed": seed,
                              "steps": steps, "amp": PRECISIONS[precision]})
    started = time.perf_counter()
    result = train_and_evaluate(config)
    if result.status != COMPLETED or str(result.precision) != precision:
        raise RuntimeError(f"{model_type} {precision} seed {seed}: {result.status}, {result.precision}")
    rates = [h["images_per_second"] for h in result.history]
    return {"model_type": model_type, "precision": precision, "seed": seed, "steps": steps,
            **{s: float(result.scores[s]) for s in SCORES}, "train_seconds": result.train_seconds,
            "images_per_second": statistics.median(rates), "trial_seconds": time.perf_counter() - started}


def read_rows(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    with open(path, newline="") as handle:
        return [{k: (v if k in ("model_type", "precision") else float(v)) for k, v in row.items()}
                for row in csv.DictReader(handle)]


def append_row(path: str, row: dict) -> None:
    new = not os.path.exists(path)
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        if new:
            writer.writeheader()
        writer.writerow({k: row[k] for k in COLUMNS})


def run_all(path: str, steps: int, seeds: list[int], workers: int) -> None:
    """Every (model, seed, precision) not yet in ``path``, ``workers`` at a time, in the order
    seed → model → precision so that a seed's fp32 and bf16 trials run side by side."""
    done = {(r["model_type"], r["precision"], int(r["seed"])) for r in read_rows(path) if int(r["steps"]) == steps}
    jobs = [(m, p, s) for s in seeds for m in MODELS for p in PRECISIONS if (m, p, s) not in done]
    print(f"{len(jobs)} trials to run ({len(done)} in {path}), {workers} at a time", flush=True)
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), max_tasks_per_child=1) as pool:
        futures = {pool.submit(run_one, m, p, s, steps): (m, p, s) for m, p, s in jobs}
        for future in as_completed(futures):
            row = future.result()
            append_row(path, row)
            print(f"done {row['model_type']} {row['precision']} seed {row['seed']}: "
                  + ", ".join(f"{s} {row[s]:.4f}" for s in SCORES)
                  + f"; {row['images_per_second']:.0f} img/s, {row['trial_seconds']:.0f} s", flush=True)


def _mean_sd(values: list[float]) -> tuple[float, float]:
    values = [v for v in values if math.isfinite(v)]
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else math.nan


def _t95(n: int) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.975, n - 1)) if n > 1 else math.nan


def table(rows: list[dict]) -> str:
    """The Markdown table of every model × score, then the verdicts and the in-trial speed."""
    by = {(r["model_type"], r["precision"], int(r["seed"])): r for r in rows}
    lines = ["| model | score | fp32 mean ± SD | bf16 mean ± SD | bf16 − fp32 (paired, 95% CI) | "
             "|diff| ≤ max SD |", "|---|---|---|---|---|---|"]
    verdicts, speed = [], []
    for model in MODELS:
        seeds = sorted(s for (m, p, s) in by if m == model and p == "fp32" and (m, "bf16", s) in by)
        if not seeds:
            continue
        ok_all = True
        for score in SCORES:
            fp32 = [by[(model, "fp32", s)][score] for s in seeds]
            bf16 = [by[(model, "bf16", s)][score] for s in seeds]
            (m32, sd32), (m16, sd16) = _mean_sd(fp32), _mean_sd(bf16)
            diffs = [b - a for a, b in zip(fp32, bf16, strict=True) if math.isfinite(a - b)]
            d, sd_d = _mean_sd(diffs)
            half = _t95(len(diffs)) * sd_d / math.sqrt(len(diffs)) if len(diffs) > 1 else math.nan
            ok = abs(d) <= max(sd32, sd16)
            ok_all &= ok
            lines.append(f"| {model} | {score} | {m32:.4f} ± {sd32:.4f} | {m16:.4f} ± {sd16:.4f} | "
                         f"{d:+.4f} [{d - half:+.4f}, {d + half:+.4f}] | {'yes' if ok else '**no**'} |")
        verdicts.append(f"{model}: {'agrees' if ok_all else 'DISAGREES (stays fp32 under amp auto)'} "
                        f"({len(seeds)} seeds)")
        ips = {p: statistics.fmean(by[(model, p, s)]["images_per_second"] for s in seeds) for p in PRECISIONS}
        secs = {p: statistics.fmean(by[(model, p, s)]["trial_seconds"] for s in seeds) for p in PRECISIONS}
        speed.append(f"| {model} | {ips['fp32']:.0f} | {ips['bf16']:.0f} | {ips['bf16'] / ips['fp32']:.2f}× | "
                     f"{secs['fp32']:.0f} | {secs['bf16']:.0f} |")
    return "\n".join([*lines, "", f"Verdict ({RULE}):", *(f"* {v}" for v in verdicts), "",
                      "| model | fp32 img/s | bf16 img/s | bf16/fp32 | fp32 s/trial | bf16 s/trial |",
                      "|---|---|---|---|---|---|", *speed])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000, help="Training steps per trial (default 3000).")
    parser.add_argument("--seeds", default="0,1,2", help="Comma-separated seeds (default 0,1,2).")
    parser.add_argument("--workers", type=int, default=2, help="Trials at a time, one thread each (default 2).")
    parser.add_argument("--csv", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                                                      "bf16-science.csv"), help="Rows of finished trials.")
    parser.add_argument("--from-csv", action="store_true", help="Only print the table of --csv.")
    args = parser.parse_args()
    if not args.from_csv:
        run_all(args.csv, args.steps, [int(s) for s in args.seeds.split(",")], args.workers)
    rows = [r for r in read_rows(args.csv) if int(r["steps"]) == args.steps]
    print(table(rows), flush=True)


if __name__ == "__main__":
    main()
