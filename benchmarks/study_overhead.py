"""Per-trial orchestration overhead of a study: where a trial slot's time goes.

Usage: python benchmarks/study_overhead.py [--trials 12] [--steps 200] [--concurrent 2]

Runs a real study (local Ray, SQLite MLflow unless ``--tracking-uri``, procedural dSprites,
``recon`` metric preset so scoring is small) in a temporary folder. Per-study costs are timed
apart: Ray start, the study's preparation (resource and storage checks, parent run) and its end
(buffer replay, summary table, report and figures). The Tuner's wall time × concurrency / trials
is the trial slot; each trial records its own phases (``timing/<phase>_s``: setup, steps,
validation, checkpoints, reports, scoring, artifacts, tracking_start, final_logging), and the rest
of the slot is outside the trial function (Ray scheduling, actor start or reuse, imports, Tune's
bookkeeping). Overhead = slot − steps − scoring.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from contextlib import contextmanager

IN_TRIAL = ("setup", "validation", "checkpoints", "reports", "artifacts", "tracking_start", "final_logging")


@contextmanager
def timed(module, name: str, seconds: dict):
    """Time every call of ``module.name`` into ``seconds[name]``."""
    original = getattr(module, name)

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start

    setattr(module, name, wrapper)
    try:
        yield
    finally:
        setattr(module, name, original)


def run(args, root: str) -> tuple[dict, dict, object]:
    import ray

    from analysis.runs import load_runs
    from study import driver
    from study.config import make_config

    cfg = make_config("quick", overrides={
        "name": "overhead", "root": root, "tracking_uri": args.tracking_uri,
        "trial": {"steps": args.steps, "report_every": 50, "checkpoint_every": 100, "metrics": "recon",
                  "kl_warmup_steps": 0},
        "search": {"num_trials": args.trials, "objectives": ["recon_error", "blur"], "sampler": "random"},
        "resources": {"max_concurrent": args.concurrent}})
    seconds: dict = {}
    driver.quiet_console()
    start = time.perf_counter()
    driver.ensure_ray(cfg)
    seconds["ray_start"] = time.perf_counter() - start
    with timed(driver, "_prepare_cluster_and_folder", seconds), timed(driver, "_open_study_run", seconds), \
            timed(driver, "_make_tuner", seconds), timed(driver, "_finish", seconds):
        start = time.perf_counter()
        summary = driver.run_study(cfg)
        seconds["run_study"] = time.perf_counter() - start
    ray.shutdown()
    df = load_runs("overhead", tracking_uri=summary["tracking_uri"])
    return seconds, summary, df


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12, help="Number of trials.")
    parser.add_argument("--steps", type=int, default=200, help="Training steps per trial.")
    parser.add_argument("--concurrent", type=int, default=2, help="Trials at once.")
    parser.add_argument("--tracking-uri", default=None, help="MLflow server (default: SQLite in the temp root).")
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    if args.tracking_uri is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    with tempfile.TemporaryDirectory() as root:
        seconds, summary, df = run(args, root)
    fit = seconds["run_study"] - sum(seconds.get(k, 0.0) for k in
                                     ("_prepare_cluster_and_folder", "_open_study_run", "_make_tuner", "_finish"))
    slot = fit * args.concurrent / args.trials
    mean = {p: float(df[f"timing/{p}_s"].mean()) for p in ("steps", "scoring", *IN_TRIAL) if f"timing/{p}_s" in df}
    inside = sum(mean.values())
    print(f"\n{args.trials} trials x {args.steps} steps, {args.concurrent} at once, tracking {summary['tracking_uri']}")
    print("per study (s): " + ", ".join(f"{k.strip('_')} {v:.1f}" for k, v in seconds.items() if k != "run_study"))
    print(f"Tuner.fit wall {fit:.1f} s -> trial slot {slot:.2f} s\n\n| phase (mean per trial) | s |\n|---|---|")
    for phase, value in mean.items():
        print(f"| {phase} | {value:.2f} |")
    print(f"| outside the trial function (Ray scheduling, actor, Tune) | {slot - inside:.2f} |")
    overhead = slot - mean.get("steps", 0.0) - mean.get("scoring", 0.0)
    print(f"| **overhead per trial slot (slot − steps − scoring)** | **{overhead:.2f}** |")


if __name__ == "__main__":
    main()
