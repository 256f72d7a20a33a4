"""What must hold after a study survived faults (``benchmarks/chaos_soak.py``), checked against
the records themselves: MLflow's runs and metric histories, the study's Optuna storage, the study's
table (``analysis.runs.load_runs``), and the host (processes, namespaces). Each check returns a
:class:`Check` row (what, holds, how many records it read, how many were lost, detail)."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from types import SimpleNamespace

from analysis.schema import Role, Tag, TrialStatus

FINAL_OPTUNA = ("COMPLETE", "FAIL", "PRUNED")


@dataclass
class Check:
    name: str
    ok: bool
    records: int = 0
    lost: int = 0
    detail: str = ""


def study_runs(uri: str, study: str, experiment: str = "betasweep") -> list:
    """The study's trial runs in MLflow (a duplicate taken out of its study has no study tag)."""
    from mlflow.tracking import MlflowClient

    from analysis.paging import search_all_runs

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    query = f"tags.{Tag.STUDY} = '{study}' and tags.{Tag.ROLE} = '{Role.TRIAL}'"
    return search_all_runs(client, [exp.experiment_id], query)


def live(runs: list) -> list:
    """The runs that stand for a trial: not an attempt abandoned with a killed driver."""
    return [r for r in runs if r.data.tags.get(Tag.TRIAL_STATUS) != TrialStatus.ABANDONED]


def accounted(runs: list, num_trials: int) -> Check:
    """Every trial accounted for: one run per trial, completed, or failed with its reason."""
    trials = {r.data.tags.get(Tag.TRIAL_ID) for r in live(runs)}
    unexplained = [r.data.tags.get(Tag.TRIAL_ID) for r in live(runs)
                   if not (r.data.tags.get(Tag.TRIAL_STATUS) == TrialStatus.COMPLETED
                           or r.data.tags.get(Tag.TRIAL_STATUS) == TrialStatus.FAILED
                           and r.data.tags.get(Tag.FAILURE_REASON))]
    ok = len(trials) == num_trials and not unexplained
    return Check("every trial accounted for (completed, or failed with its reason)", ok, len(runs),
                 max(0, num_trials - len(trials)),
                 f"{len(trials)} of {num_trials} trials" + (f"; unexplained: {unexplained}" if unexplained else ""))


def no_duplicates(runs: list) -> Check:
    counts = Counter(r.data.tags.get(Tag.TRIAL_ID) for r in live(runs))
    twice = sorted(t for t, n in counts.items() if n > 1)
    return Check("no duplicate child run", not twice, len(runs), 0, f"trials with two runs: {twice}" if twice else "")


def _point(key: str, metric):
    """What may be recorded once: a metric's step; a ``system/`` sample's (step, time), since the
    trial samples its node while training and again while scoring, and the scoring's sample goes
    with the final scores at the last step (a resent sample repeats its time as well)."""
    return (metric.step, metric.timestamp) if key.startswith("system/") else metric.step


def _histories(uri: str, runs: list, workers: int = 4) -> dict[tuple[str, str], list]:
    """Every metric point of ``runs``, by (run id, metric key), as MLflow stores them. On a tracking
    server, one request per metric key for all the runs at once (MLflow's bulk history route; behind
    basic auth each request is also a login to check), a few at a time;
    elsewhere the client's per-run history."""
    from concurrent.futures import ThreadPoolExecutor

    keys: dict[str, list[str]] = {}
    for run in runs:
        for key in run.data.metrics:
            keys.setdefault(key, []).append(run.info.run_id)
    if not uri.startswith(("http://", "https://")):
        from mlflow.tracking import MlflowClient

        client = MlflowClient(uri)
        return {(run_id, key): client.get_metric_history(run_id, key) for key, ids in keys.items() for run_id in ids}
    import requests

    user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
    auth = (user, password) if user and password else None  # the client's own login variables
    limit = 25000  # the route's own cap on the points it returns

    def bulk(key: str, run_ids: list[str]) -> list:
        found = []
        for start in range(0, len(run_ids), 100):  # at most 100 runs per request
            params = [("run_id", r) for r in run_ids[start:start + 100]] + [("metric_key", key), ("max_results", limit)]
            resp = requests.get(f"{uri.rstrip('/')}/ajax-api/2.0/mlflow/metrics/get-history-bulk", params=params,
                                auth=auth, timeout=120)
            resp.raise_for_status()
            points = resp.json().get("metrics", [])
            if len(points) >= limit:
                raise RuntimeError(f"{key}: {len(points)} points, the bulk route's cap; cannot check them all")
            found += [SimpleNamespace(**point) for point in points]
        return found

    histories: dict[tuple[str, str], list] = {(run_id, key): [] for key, ids in keys.items() for run_id in ids}
    with ThreadPoolExecutor(workers) as pool:
        for points in pool.map(lambda item: bulk(*item), keys.items()):
            for point in points:
                histories[(point.run_id, point.key)].append(point)
    return histories


def curve_points(uri: str, runs: list, steps: int, report_every: int, curve: str = "train/loss") -> Check:
    """Every metric point exactly once (per run, metric, step); a completed trial's ``curve`` has
    every report step from ``report_every`` to ``steps`` (a missing one is a record lost)."""
    expected = set(range(report_every, steps + 1, report_every))
    points, repeated, lost = 0, [], 0
    histories = _histories(uri, live(runs))
    for run in live(runs):
        for key in run.data.metrics:
            history = histories[(run.info.run_id, key)]
            points += len(history)
            twice = [s for s, n in Counter(_point(key, m) for m in history).items() if n > 1]
            if twice:
                repeated.append(f"{run.data.tags.get(Tag.TRIAL_ID)} {key} steps {sorted(twice)[:5]}")
            if key == curve and run.data.tags.get(Tag.TRIAL_STATUS) == TrialStatus.COMPLETED:
                lost += len(expected - {m.step for m in history})
    detail = "; ".join(repeated[:6]) + (f" (+{len(repeated) - 6} more)" if len(repeated) > 6 else "")
    return Check("every metric point exactly once", not repeated and not lost, points, lost,
                 detail or f"{curve} complete on every completed trial")


def optuna_study(root: str, study: str):
    """The study's Optuna study, read without creating or migrating the storage."""
    import optuna

    storage = optuna.storages.RDBStorage(f"sqlite:///{os.path.join(root, study, 'optuna.db')}",
                                         skip_table_creation=True)
    return optuna.load_study(study_name=study, storage=storage)


def optuna_consistent(runs: list, trials: list, configurations: int, never_launched=()) -> Check:
    """One Optuna trial per configuration, each in a final state, each agreeing with its run(s):
    COMPLETE iff a seed completed. A trial asked but never launched (the driver killed between ask
    and launch) is FAIL, listed by the searcher under the study's ``never_launched`` and referenced
    by no run: accounted for, not a configuration."""
    unlaunched = set(never_launched)
    referenced = {int(r.data.tags[Tag.OPTUNA_TRIAL]) for r in live(runs) if Tag.OPTUNA_TRIAL in r.data.tags}
    orphans = sorted(t.number for t in trials if t.number in unlaunched and t.state.name == "FAIL"
                     and t.number not in referenced)
    trials = [t for t in trials if t.number not in orphans]
    states = {t.number: t.state.name for t in trials}
    not_final = sorted(n for n, s in states.items() if s not in FINAL_OPTUNA)
    by_number: dict[int, list[str]] = {}
    for run in live(runs):
        number = run.data.tags.get(Tag.OPTUNA_TRIAL)
        by_number.setdefault(int(number) if number is not None else -1, []).append(run.data.tags.get(Tag.TRIAL_STATUS))
    disagree = sorted(n for n, statuses in by_number.items()
                      if states.get(n) != ("COMPLETE" if TrialStatus.COMPLETED in statuses else "FAIL"))
    ok = len(trials) == configurations and not not_final and not disagree
    detail = (f"{len(trials)} Optuna trials for {configurations} configurations"
              + (f" (+ never launched, FAIL: {orphans})" if orphans else "")
              + (f"; not final: {not_final}" if not_final else "")
              + (f"; disagree with MLflow: {[(n, states.get(n), by_number[n]) for n in disagree]}" if disagree else ""))
    return Check("one Optuna trial per configuration, final", ok, len(trials), 0, detail)


def table_matches(uri: str, study: str, runs: list, objectives: list[str]) -> Check:
    """``load_runs`` (the study's table) holds exactly MLflow's runs of the study, with their
    statuses and objective values."""
    from analysis.runs import load_runs

    df = load_runs(study, tracking_uri=uri)
    mlflow = {r.info.run_id: r for r in runs}
    table = {row["run_id"]: row for _, row in df.iterrows()}
    wrong = sorted(set(mlflow) ^ set(table))
    for run_id in set(mlflow) & set(table):
        run, row = mlflow[run_id], table[run_id]
        same = row[Tag.TRIAL_STATUS] == run.data.tags.get(Tag.TRIAL_STATUS) and all(
            (name not in run.data.metrics and (name not in row or row[name] != row[name]))
            or row.get(name) == run.data.metrics.get(name) for name in objectives)
        if not same:
            wrong.append(run_id)
    return Check("study table (load_runs) equals MLflow", not wrong, len(table), 0,
                 f"rows differing: {wrong[:5]}" if wrong else f"{len(table)} rows")


def nothing_left(pids: list[int], namespaces: set, leftovers: list[str]) -> Check:
    """No process of the soak's own left (by PID), nor a namespace of its cluster (by identity or name)."""
    from cluster import netns, processes

    alive = [p for p in pids if not processes.gone(p)] + netns.pids(namespaces)
    ok = not alive and not leftovers
    return Check("no process or namespace left behind", ok, len(pids) + len(namespaces), 0,
                 f"processes {alive[:10]}, namespaces/links {leftovers}" if not ok else
                 f"{len(pids)} processes and {len(namespaces)} namespaces gone")


def table(rows: list[tuple[str, str]]) -> str:
    """Two-column plain-text table."""
    width = max(len(a) for a, _ in rows)
    return "\n".join(f"{a.ljust(width)}  {b}" for a, b in rows)


def checks_table(checks: list[Check]) -> str:
    header = ("invariant", "holds", "records", "lost", "detail")
    body = [(c.name, "yes" if c.ok else "NO", str(c.records), str(c.lost), c.detail) for c in checks]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(4)]
    return "\n".join("  ".join([*(r[i].ljust(widths[i]) for i in range(4)), r[4]]) for r in [header, *body])
