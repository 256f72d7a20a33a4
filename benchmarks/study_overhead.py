"""Per-trial orchestration overhead of a study: wall time vs the time trials spend training.

Usage: python benchmarks/study_overhead.py [--trials 6] [--steps 200] [--concurrent 2]

Runs a real study (local Ray, SQLite MLflow, procedural dSprites, ``recon`` metric preset so
scoring is small) in a temporary folder and prints: total wall time; the sum over trials of
in-trial training time (``train_seconds``); and the overhead per trial slot, i.e. what everything
but training adds (Ray start, process start and imports, scheduling, MLflow setup, the recon
scoring, image and model logging, the final report).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=6, help="Number of trials.")
    parser.add_argument("--steps", type=int, default=200, help="Training steps per trial.")
    parser.add_argument("--concurrent", type=int, default=2, help="Trials at once.")
    args = parser.parse_args()
    os.environ.setdefault("RAY_ADDRESS", "local")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    from analysis.runs import load_runs
    from study.config import make_config
    from study.driver import run_study

    with tempfile.TemporaryDirectory() as root:
        cfg = make_config("quick", overrides={
            "name": "overhead", "root": root,
            "trial": {"steps": args.steps, "report_every": 50, "checkpoint_every": 100, "metrics": "recon",
                      "kl_warmup_steps": 0},
            "search": {"num_trials": args.trials, "objectives": ["recon_error", "blur"], "sampler": "random"},
            "resources": {"max_concurrent": args.concurrent}})
        t0 = time.perf_counter()
        summary = run_study(cfg)
        wall = time.perf_counter() - t0
        df = load_runs("overhead", tracking_uri=summary["tracking_uri"])
        train = float(df["train_seconds"].sum())

    per_trial_wall = wall * args.concurrent / args.trials
    print(f"\ntrials {args.trials} x {args.steps} steps, {args.concurrent} at once")
    print(f"wall time of the study            {wall:8.1f} s")
    print(f"sum of in-trial training time     {train:8.1f} s  (mean {train / args.trials:.1f} s per trial)")
    print(f"wall x concurrency / trials       {per_trial_wall:8.1f} s per trial slot")
    print(f"orchestration + scoring overhead  {per_trial_wall - train / args.trials:8.1f} s per trial "
          f"({100 * (1 - train / (wall * args.concurrent)):.0f}% of slot time)")


if __name__ == "__main__":
    main()
