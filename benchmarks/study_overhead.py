"""Per-trial orchestration overhead of a study: where a trial slot's time goes.

Usage: python benchmarks/study_overhead.py [--trials 12] [--steps 200] [--concurrent 2]

Runs a real study (local Ray, SQLite MLflow unless ``--tracking-uri``, procedural dSprites,
``recon`` metric preset so scoring is small) in a temporary folder. Per-study costs are timed
apart: Ray start, the study's preparation (resource and storage checks, parent run) and its end
(buffer replay, summary table, report and figures). Each trial records its own phases
(``timing/<phase>_s``: setup, steps, validation, checkpoints, reports, scoring, artifacts,
tracking_start, final_logging); Tune's callbacks give when each trial started and completed.

Per trial, orchestration is every phase but steps, scoring and validation (the
``val_recon_error`` curve is measurement), plus its time in Tune outside its phases, plus how long
its slot stood idle before it started (a new actor's start for the first trial on each slot, Tune
and the searcher for the others). Shown for every trial, the first on each actor (which pays the
worker's imports) and the later ones. The Tuner's wall time × concurrency / trials (the slot) is
printed too; it also counts the end of the study, where one slot idles while the last trial ends.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from contextlib import contextmanager

IN_TRIAL = ("setup", "checkpoints", "reports", "artifacts", "tracking_start", "final_logging")


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


@contextmanager
def trial_lifetimes(lives: dict):
    """Record when Tune starts and completes each trial (driver clock) into ``lives``."""
    from study.progress import StudyProgress

    start, complete, step = StudyProgress.on_trial_start, StudyProgress.on_trial_complete, StudyProgress.on_step_begin

    def on_step(self, iteration, trials, **info):
        lives.setdefault("fit_start", time.time())
        return step(self, iteration, trials, **info)

    def on_start(self, iteration, trials, trial, **info):
        lives.setdefault(trial.trial_id, {})["start"] = time.time()
        return start(self, iteration, trials, trial, **info)

    def on_complete(self, iteration, trials, trial, **info):
        lives.setdefault(trial.trial_id, {})["complete"] = time.time()
        return complete(self, iteration, trials, trial, **info)

    StudyProgress.on_trial_start, StudyProgress.on_trial_complete, StudyProgress.on_step_begin = \
        on_start, on_complete, on_step
    try:
        yield
    finally:
        StudyProgress.on_trial_start, StudyProgress.on_trial_complete, StudyProgress.on_step_begin = \
            start, complete, step


def waiting(lives: dict, trial_id: str) -> float:
    """How long the trial's slot stood idle before Tune started it: since the last completion
    before its start (the slot it takes over), or since the Tuner began (a new actor's start)."""
    start = lives[trial_id]["start"]
    ends = [v["complete"] for k, v in lives.items() if k != "fit_start" and v.get("complete", start) < start]
    return start - max(ends, default=lives["fit_start"])


def run(args, root: str) -> tuple[dict, dict, object]:
    import ray

    from analysis.runs import load_runs
    from analysis.schema import Tag
    from study import driver
    from study.config import make_config

    cfg = make_config("quick", overrides={
        "name": "overhead", "root": root, "tracking_uri": args.tracking_uri,
        "trial": {"steps": args.steps, "report_every": 50, "checkpoint_every": 100, "metrics": "recon",
                  "kl_warmup_steps": 0},
        "search": {"num_trials": args.trials, "objectives": ["recon_error", "blur"], "sampler": "random"},
        "resources": {"max_concurrent": args.concurrent}})
    seconds: dict = {}
    lives: dict = {}
    driver.quiet_console()
    start = time.perf_counter()
    driver.ensure_ray(cfg)
    seconds["ray_start"] = time.perf_counter() - start
    with timed(driver, "_prepare_cluster_and_folder", seconds), timed(driver, "_open_study_run", seconds), \
            timed(driver, "_make_tuner", seconds), timed(driver, "_finish", seconds), trial_lifetimes(lives):
        start = time.perf_counter()
        summary = driver.run_study(cfg)
        seconds["run_study"] = time.perf_counter() - start
    ray.shutdown()
    df = load_runs("overhead", tracking_uri=summary["tracking_uri"])
    df["tune_life"] = [lives[t]["complete"] - lives[t]["start"] for t in df[Tag.TRIAL_ID]]
    order = sorted(df[Tag.TRIAL_ID], key=lambda t: lives[t]["start"])
    df["first_on_actor"] = [order.index(t) < args.concurrent for t in df[Tag.TRIAL_ID]]
    df["gap"] = [waiting(lives, t) for t in df[Tag.TRIAL_ID]]
    return seconds, summary, df


def table(df) -> list[str]:
    """The breakdown as Markdown rows: every trial, the first trial on each actor (it pays the
    worker's imports), and the later trials (actors reused)."""
    groups = {"all": df, "first on its actor": df[df["first_on_actor"]], "later": df[~df["first_on_actor"]]}
    phases = [p for p in ("steps", "scoring", "validation", *IN_TRIAL) if f"timing/{p}_s" in df]
    rows = ["| phase (mean per trial, s) | " + " | ".join(groups) + " |", "|---" * (len(groups) + 1) + "|"]
    for phase in phases:
        means = (g[f"timing/{phase}_s"].mean() for g in groups.values())
        rows.append(f"| {phase} | " + " | ".join(f"{m:.2f}" for m in means) + " |")

    def outside(g):
        return (g["tune_life"] - sum(g[f"timing/{p}_s"] for p in phases)).mean()

    def orchestration(g):
        return sum(g[f"timing/{p}_s"].mean() for p in IN_TRIAL if f"timing/{p}_s" in g) + outside(g)

    rows.append("| in Tune, outside the phases (thread, final report and checkpoint) | "
                + " | ".join(f"{outside(g):.2f}" for g in groups.values()) + " |")
    rows.append("| slot idle before the trial (actor start, or reuse: Tune, searcher) | "
                + " | ".join(f"{g['gap'].mean():.2f}" for g in groups.values()) + " |")
    rows.append("| **orchestration per trial (all but steps, scoring, validation)** | "
                + " | ".join(f"**{orchestration(g) + g['gap'].mean():.2f}**" for g in groups.values()) + " |")
    return rows


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
    steps, scoring, validation = (float(df[f"timing/{p}_s"].mean()) for p in ("steps", "scoring", "validation"))
    print(f"\n{args.trials} trials x {args.steps} steps, {args.concurrent} at once, tracking {summary['tracking_uri']}")
    print("per study (s): " + ", ".join(f"{k.strip('_')} {v:.1f}" for k, v in seconds.items() if k != "run_study"))
    print(f"Tuner.fit wall {fit:.1f} s -> trial slot {slot:.2f} s; slot - steps - scoring = "
          f"{slot - steps - scoring:.2f} s, of which validation {validation:.2f} s and orchestration "
          f"{slot - steps - scoring - validation:.2f} s\n")
    print("\n".join(table(df)))


if __name__ == "__main__":
    main()
