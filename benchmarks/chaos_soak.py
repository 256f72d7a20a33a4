"""The chaos soak: a study on the local multi-node cluster — each node in its own network namespace,
PostgreSQL behind authenticated MLflow — while a bounded fault schedule runs (:mod:`cluster.chaos`:
a worker node killed with SIGKILL and started again every ~45 s, the MLflow server killed and
started again once, PostgreSQL restarted once, the driver killed with SIGKILL once and resumed with
``--resume``, one checkpoint torn), then the invariants (:mod:`cluster.invariants`) checked and
printed as a table. Exit 0 when every invariant holds.

Usage (as root: namespaces, PostgreSQL's own user; run it niced on a shared machine)::

    nice -n 19 python benchmarks/chaos_soak.py            # 24 trials, every fault
    nice -n 19 python benchmarks/chaos_soak.py --short    # 6 trials, tear + worker + driver + MLflow

Tiny trials (300 steps, 200 with ``--short``; objectives recon_error and recon_mse: a tiny model's
codes collapse, so the factor metrics say nothing). A fault is thrown when due and once a trial has
checkpointed since the previous fault was dealt with, so that each hits running trials (the log
line gives the newest checkpoint's age). The soak's cluster, driver and namespaces are its own; it
stops them by PID and deletes its root unless ``--keep`` (or an invariant failed).

``--short`` on 2026-12-06 (2 cores, nothing else running; 96 s of study, 124 s in all)::

    faults thrown            worker node killed ×1, MLflow server killed ×1, driver killed ×1, checkpoint torn ×1
    trials finished          6 of 6 trials
    records checked          1048
    records lost             0
    invariants               all hold
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from analysis.schema import NEVER_LAUNCHED  # noqa: E402
from cluster import chaos, invariants, local, mlflow_users, netns, ray_nodes  # noqa: E402

NAME = "soak"


def driver_cmd(state: dict, args, resume: bool) -> list[str]:
    runs = os.path.join(state["root"], "runs")
    base = [sys.executable, "-m", "study.run", "--root", runs, "--tracking-uri", state["mlflow"]]
    if resume:
        return base + ["--resume", NAME]
    return base + ["--name", NAME, "--address", state["gcs_address"], "--num-trials", str(args.trials),
                   "--max-concurrent", str(state["workers"]), "--sampler", "random",
                   "--objectives", "recon_error,recon_mse", "--set", f"trial.steps={args.steps}",
                   "--set", "trial.report_every=20", "--set", "trial.checkpoint_every=20",
                   "--set", "trial.metrics=recon", "--set", "trial.eval_size=64", "--set", "trial.val_size=64",
                   "--set", "trial.kl_warmup_steps=0", "--set", "trial.latent_dim=4", "--set", "trial.batch_size=32",
                   "--set", "resources.max_failures=6", "--set", "resources.reuse_actors=false"]


def start_driver(state: dict, args, resume: bool, log) -> subprocess.Popen:
    """The study's driver on the head node (its namespace: it joins the head's raylet), with the
    cluster's Ray token and the trials' MLflow login."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_ADDRESS", "RAY_AUTH"))}
    env.update(ray_nodes.client_env(state), PYTHONPATH=REPO, RAY_ADDRESS=state["gcs_address"])
    env.update(mlflow_users.login(state["root"], "trials")[0])
    with netns.entered(ray_nodes.node(state, "head")[0]):
        return subprocess.Popen(driver_cmd(state, args, resume), cwd=REPO, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)


def throw(fault: chaos.Fault, state: dict, sessions: dict, study_dir: str, driver) -> str:
    """One fault; returns what it did (a line of the soak's log)."""
    if fault.kind == chaos.WORKER_KILL:
        killed = chaos.kill_worker(state, fault.target, sessions)
        time.sleep(5)
        chaos.restart_worker(state, fault.target, sessions)
        return f"{fault.target}: {killed} processes killed, node started again"
    if fault.kind == chaos.MLFLOW_KILL:
        killed = chaos.kill_mlflow(state)
        time.sleep(15)
        clock = time.time()
        chaos.restart_mlflow(state)
        return f"{killed} server processes killed, down 15 s, serving {time.time() - clock:.0f} s after its restart"
    if fault.kind == chaos.POSTGRES_RESTART:
        chaos.restart_postgres(state)
        return "fast shutdown, started again on its port"
    if fault.kind == chaos.CHECKPOINT_TEAR:
        return f"truncated {chaos.tear_checkpoint(study_dir)}"
    chaos.kill_driver(driver.pid)
    return f"driver pid {driver.pid} killed"


def run(args, state: dict, log) -> tuple[list[str], int, float]:
    """Drive the study through the schedule; returns the fault log, the last driver's exit code
    and the seconds taken."""
    study_dir = os.path.join(state["root"], "runs", NAME)
    faults = chaos.schedule(args.duration, state["workers"], short=args.short)
    sessions: dict[str, int] = {}
    driver, thrown, started = start_driver(state, args, False, log), [], time.time()
    state["driver_pids"], t0, settled = [driver.pid], None, 0.0
    while True:
        if t0 is None and glob.glob(os.path.join(study_dir, "tune", "*", "checkpoint_*")):
            t0 = time.time()  # the schedule's clock starts with the first checkpoint: trials are running
        now = time.time() - (t0 or time.time())
        if driver.poll() is not None:  # ended (a schedule longer than the study is cut short)
            return thrown, driver.returncode, time.time() - started
        # a due fault waits for a checkpoint written since the previous one was dealt with: it hits running trials
        if t0 is not None and faults and faults[0].at <= now and chaos.progressed(study_dir, settled):
            fault, age = faults.pop(0), time.time() - chaos.newest_checkpoint(study_dir)
            done = throw(fault, state, sessions, study_dir, driver)
            thrown.append(f"{now:6.0f}s {fault.kind}: {done} (newest checkpoint {age:.0f} s old)")
            print(thrown[-1], flush=True)
            if fault.kind == chaos.DRIVER_KILL:
                driver.wait()
                time.sleep(3)
                driver = start_driver(state, args, True, log)
                state["driver_pids"].append(driver.pid)
            settled = time.time()
        elif time.time() - started > args.timeout:
            chaos.kill_driver(driver.pid)
            return thrown + [f"{now:6.0f}s timeout: driver killed"], -9, time.time() - started
        time.sleep(1)


def start_cluster(root: str, attempts: int = 3) -> dict:
    """``cluster.local up`` (namespaces, PostgreSQL, auth), tried again when a node times out while
    starting (Ray waits 30 s for a raylet, too little on a loaded machine); a failed ``up`` has
    already stopped what it started."""
    for attempt in range(1, attempts + 1):
        try:
            return local.up(root, workers=2, cpus_per_worker=1, backend="postgres", auth=True, isolate=True)
        except RuntimeError as exc:
            if attempt == attempts or "timed out during startup" not in str(exc):
                raise
            print(f"[soak] cluster up failed ({str(exc).splitlines()[-1][:120]}); trying again", flush=True)
    raise AssertionError("unreachable")


def check(args, state: dict) -> list[invariants.Check]:
    uri, runs_root = state["mlflow"], os.path.join(state["root"], "runs")
    runs = invariants.study_runs(uri, NAME)
    study = invariants.optuna_study(runs_root, NAME)
    return [invariants.accounted(runs, args.trials), invariants.no_duplicates(runs),
            invariants.curve_points(uri, runs, args.steps, 20),
            invariants.optuna_consistent(runs, study.get_trials(deepcopy=False), args.trials,
                                         study.user_attrs.get(NEVER_LAUNCHED, [])),
            invariants.table_matches(uri, NAME, runs, ["recon_error", "recon_mse"])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="6 trials and four faults (CI).")
    parser.add_argument("--trials", type=int, default=None, help="Trials (default 24, 6 with --short).")
    parser.add_argument("--steps", type=int, default=None, help="Steps per trial (default 300, 200 with --short).")
    parser.add_argument("--root", default=None, help="Cluster root (default: a new folder under /tmp).")
    parser.add_argument("--keep", action="store_true", help="Keep the root (stores, logs) afterwards.")
    args = parser.parse_args(argv)
    args.trials = args.trials or (6 if args.short else 24)
    args.steps = args.steps or (200 if args.short else 300)
    args.duration = 300.0 if args.short else 480.0
    args.timeout = 1200.0 if args.short else 3600.0
    why = netns.unavailable()
    if why:
        print(f"error: the soak needs network namespaces: {why}", file=sys.stderr)
        return 2
    root = args.root or tempfile.mkdtemp(prefix="bsw-soak-", dir="/tmp")  # the postgres user passes through
    os.environ["PYTHONPATH"] = REPO + os.pathsep + os.environ.get("PYTHONPATH", "")  # the nodes' trials import us
    for key in ("RAY_ADDRESS", "MLFLOW_TRACKING_URI"):
        os.environ.pop(key, None)
    os.environ["RAY_AUTH_MODE"] = "disabled"
    try:
        state = start_cluster(root)
    except BaseException:  # up stopped what it started; its stores go too
        if not args.keep and not args.root:
            shutil.rmtree(root, ignore_errors=True)
        raise
    os.environ.update(mlflow_users.login(root, "trials")[0])  # this process reads the records back
    namespaces, checks, pids, thrown, code, seconds = netns.identities(state["netns"]), [], [], [], -1, 0.0
    try:
        with open(os.path.join(root, "soak-driver.log"), "a") as log:
            thrown, code, seconds = run(args, state, log)
        checks = check(args, state)
    finally:  # the state the faults kept up to date (restarted nodes' sessions, new server PIDs)
        pids = local.own_pids(state) + state.get("driver_pids", [])
        leftovers = []
        try:
            local.down(root)
        except RuntimeError as exc:
            leftovers.append(str(exc))
        leftovers += netns.leftovers(state["netns"])
    checks.append(invariants.nothing_left(pids, namespaces, leftovers))
    print(report(args, thrown, code, seconds, checks, root))
    if not args.keep and all(c.ok for c in checks) and code == 0:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if code == 0 and all(c.ok for c in checks) else 1


def report(args, thrown: list[str], code: int, seconds: float, checks: list, root: str) -> str:
    kinds = {kind: sum(1 for line in thrown if f" {kind}:" in line) for kind in chaos.KINDS}
    accounted = next((c for c in checks if c.name.startswith("every trial")), None)
    summary = [("faults thrown", ", ".join(f"{k} ×{n}" for k, n in kinds.items() if n) or "none"),
               ("trials finished", accounted.detail if accounted else "?"),
               ("records checked", str(sum(c.records for c in checks))),
               ("records lost", str(sum(c.lost for c in checks))),
               ("driver exit code (last)", str(code)), ("wall time", f"{seconds:.0f} s"), ("root", root)]
    return ("\n[soak] faults:\n" + "\n".join(thrown) + "\n\n" + invariants.checks_table(checks)
            + "\n\n" + invariants.table(summary))


if __name__ == "__main__":
    sys.exit(main())
