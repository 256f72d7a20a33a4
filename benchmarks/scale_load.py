"""The tracking server under load: the project's lean MLflow server on SQLite or PostgreSQL, trial
clients making a real trial's calls, and a count of what reached the server.

The server is started as the local cluster starts it (:func:`cluster.local.start_mlflow`: ``python
-m cluster.mlflow_server``, one worker, artifacts served over HTTP; PostgreSQL by
:mod:`cluster.postgres`, its own data dir) and stopped by its own PIDs. Trial clients are threads
of a few client processes (``--client-processes``), each running trials one after another through
the project's :class:`study.tracking.TrialTracker` (:func:`benchmarks.scale_trial.run_calls`):
N concurrent clients are N trials tracking at once, as N concurrent Ray trials would be. Latency
is measured on the clients (every HTTP request, :class:`benchmarks.scale_trial.RequestLog`): what
a trial experiences, queueing in the server included.

What reached the server is counted in its database (runs, params, metric points of the study's
child runs; finished runs) and in its artifact folder, after the driver's final sync
(:func:`study.tracking.sync_study`), and compared with what the trials asked for.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context

import numpy as np

from benchmarks.scale_trial import RequestLog, Sent, TrialShape, run_calls

EXPERIMENT = "betasweep"


@dataclass
class Server:
    """A running tracking server: its URL, its store's URI (for counting), its processes."""

    backend: str
    root: str
    url: str
    store_uri: str
    pid: int
    postgres: dict | None = None

    def stop(self) -> None:
        from cluster import postgres, processes

        processes.stop(processes.group_of(self.pid), grace=20)
        if self.postgres:
            postgres.stop(self.postgres)


def start_server(backend: str, root: str, timeout: float = 180) -> Server:
    """``cluster.mlflow_server`` on a free port of 127.0.0.1 over a new SQLite file or PostgreSQL."""
    from cluster import local, postgres
    from cluster.mlflow_server import postgres_uri

    root = os.path.abspath(root)
    os.makedirs(root, exist_ok=True)
    state = {"root": root, "backend": backend, "auth": False, "mlflow": f"http://127.0.0.1:{local.free_port()}"}
    if backend == "postgres":
        state["postgres"] = postgres.start(root, local.free_port())
        env = postgres.connection_env(state["postgres"])
        os.environ["PGPASSFILE"] = env["PGPASSFILE"]  # for counting: libpq reads the password there
        store_uri = postgres_uri(env, env["POSTGRES_DB"])
    else:
        store_uri = f"sqlite:///{os.path.join(root, 'mlflow.db')}"
    proc = local.start_mlflow(state, local.ray_nodes.environment(state))
    server = Server(backend, root, state["mlflow"], store_uri, proc.pid, state.get("postgres"))
    deadline = time.time() + timeout
    while not local.mlflow_healthy(server.url):
        if proc.poll() is not None or time.time() > deadline:
            server.stop()
            raise RuntimeError(f"MLflow server did not start; see {root}/mlflow-server.log")
        time.sleep(0.5)
    return server


def count_records(server: Server, parent_run_id: str) -> dict[str, int]:
    """What the server holds for the study's child runs (not deleted): runs, finished runs, params,
    metric points besides system metrics, READY logged models, dataset inputs (its database) and
    artifact files (its artifact folder); ``system``: the system-metric points."""
    import sqlalchemy as sa
    from mlflow.entities import LoggedModelStatus

    child = "SELECT run_uuid FROM tags WHERE key = 'mlflow.parentRunId' AND value = :parent"
    engine = sa.create_engine(server.store_uri)
    counts = {}
    with engine.connect() as conn:
        active = f"SELECT run_uuid FROM runs WHERE lifecycle_stage = 'active' AND run_uuid IN ({child})"
        rows = conn.execute(sa.text(f"SELECT run_uuid, experiment_id, status FROM runs WHERE run_uuid IN ({active})"),
                            {"parent": parent_run_id}).fetchall()
        queries = {
            "params": f"SELECT COUNT(*) FROM params WHERE run_uuid IN ({active})",
            "metrics": f"SELECT COUNT(*) FROM metrics WHERE key NOT LIKE 'system/%' AND run_uuid IN ({active})",
            "system": f"SELECT COUNT(*) FROM metrics WHERE key LIKE 'system/%' AND run_uuid IN ({active})",
            "models": f"SELECT COUNT(*) FROM logged_models WHERE status = {LoggedModelStatus.READY.to_int()} "
                      f"AND source_run_id IN ({active})",
            "inputs": "SELECT COUNT(*) FROM inputs WHERE source_type = 'DATASET' AND destination_type = 'RUN' "
                      f"AND destination_id IN ({active})"}
        for name, query in queries.items():
            counts[name] = conn.execute(sa.text(query), {"parent": parent_run_id}).scalar()
    engine.dispose()
    counts["runs"] = len(rows)
    counts["finished"] = sum(status == "FINISHED" for _, _, status in rows)
    counts["artifacts"] = sum(len(files) for run_uuid, exp, _ in rows
                              for _, _, files in os.walk(os.path.join(server.root, "mlartifacts", str(exp), run_uuid)))
    return counts


def lost(sent: Sent, found: dict[str, int]) -> dict[str, int]:
    """Records asked for but absent (negative: more on the server than asked, i.e. duplicates)."""
    return {"runs": sent.runs - found["runs"], "unfinished": sent.runs - found["finished"],
            "params": sent.params - found["params"], "metrics": sent.metrics - found["metrics"],
            "artifacts": sent.artifacts - found["artifacts"], "models": sent.models - found["models"],
            "inputs": sent.inputs - found["inputs"]}


def fill_direct(server: Server, parent: str, study: str, trials: int, templates: dict, shape: TrialShape,
                seed: int = 0) -> int:
    """Write ``trials`` child runs with a tracking-only trial's records (params, tags, curves, final
    scores, timings; no files) straight into the server's store, not over HTTP: a store the size
    of a 10,000-trial study for the analysis to read, in minutes. Returns the runs written."""
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    from analysis.schema import Role, Tag, TrialStatus, numeric_values
    from benchmarks.scale_trial import CURVE_KEYS, PHASES, final_scores
    from benchmarks.surrogate import Surrogate

    client, surrogate, rng = MlflowClient(server.store_uri), Surrogate.from_csv(), np.random.default_rng(seed)
    exp = client.get_experiment_by_name(EXPERIMENT).experiment_id
    types = list(templates)
    for i in range(trials):
        model_type = types[rng.integers(len(types))]
        params, hp_tag = templates[model_type]
        overrides = {"model_type": model_type, "seed": i}
        if "beta" in params:
            overrides["beta"] = float(np.exp(rng.uniform(0, np.log(16))))
        tags = {Tag.STUDY: study, Tag.ROLE: str(Role.TRIAL), Tag.TRIAL_ID: f"{study}-{i}", Tag.PARENT_RUN: parent,
                Tag.TRIAL_STATUS: str(TrialStatus.COMPLETED), Tag.HYPERPARAMETERS: hp_tag}
        run_id = client.create_run(exp, run_name=f"{study}/{i}", tags=tags).info.run_id
        ts = int(time.time() * 1000)
        metrics = [Metric(k, float(rng.random()), ts, step) for step in range(100, 100 * shape.reports + 1, 100)
                   for k in CURVE_KEYS]
        scores = final_scores(overrides, rng, surrogate)
        metrics += [Metric(k, v, ts, 1000) for k, v in numeric_values(scores).items()]
        metrics += [Metric(f"timing/{p}_s", float(rng.random()), ts, 1000) for p in PHASES]
        client.log_batch(run_id, metrics=metrics, params=[Param(k, str(v)) for k, v in {**params, **overrides}.items()],
                         tags=[RunTag(k, v) for k, v in scores.items() if isinstance(v, str)])
        client.set_terminated(run_id, "FINISHED")
    return trials


def _client_thread(job: dict, index: int, out: list, rng_seed: int) -> None:
    from benchmarks.surrogate import Surrogate
    from study.tracking import TrialTracker

    surrogate = Surrogate.from_csv()
    rng = np.random.default_rng(rng_seed)
    types = list(job["templates"])
    for k in range(job["trials_per_client"]):
        trial_id = f"{job['prefix']}-c{index}-{k}"
        model_type = types[rng.integers(len(types))]
        params, hp_tag = job["templates"][model_type]
        overrides = {"model_type": model_type, "seed": k}
        if "beta" in params:
            overrides["beta"] = float(np.exp(rng.uniform(0, np.log(16))))
        tracker = TrialTracker(job["uri"], EXPERIMENT, job["parent"], job["study"], trial_id,
                               buffer_dir=os.path.join(job["buffer_root"], trial_id), background=job["background"])
        started = time.perf_counter()
        sent, _ = run_calls(tracker, {**params, **overrides}, {"hyperparameters": hp_tag}, None, overrides,
                            job["shape"], rng, surrogate)
        out.append((sent, time.perf_counter() - started))


def client_process(job: dict, first_client: int, clients: int) -> dict:
    """``clients`` trial clients as threads of this process, each running its trials in turn."""
    os.environ["MLFLOW_HTTP_POOL_MAXSIZE"] = str(max(10, 2 * clients))
    log = RequestLog(job["uri"]).install()
    out: list = []
    threads = [threading.Thread(target=_client_thread, args=(job, n, out, job["seed"] + n))
               for n in range(first_client, first_client + clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds, errors = log.take()
    total = Sent()
    for sent, _ in out:
        total.add(sent)
    return {"sent": total.as_dict(), "request_seconds": seconds, "errors": errors,
            "trial_seconds": [s for _, s in out]}


def run_load(uri: str, parent: str, study: str, buffer_root: str, clients: int, trials_per_client: int,
             shape: TrialShape, templates: dict, processes: int, background: bool = True, seed: int = 0) -> dict:
    """``clients`` concurrent trial clients in ``processes`` processes; returns the merged logs."""
    job = {"uri": uri, "parent": parent, "study": study, "buffer_root": buffer_root, "shape": shape,
           "templates": templates, "trials_per_client": trials_per_client, "background": background,
           "prefix": f"{study}-{clients}", "seed": seed}
    processes = max(1, min(processes, clients))
    split = [clients // processes + (i < clients % processes) for i in range(processes)]
    starts = np.cumsum([0, *split[:-1]])
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=processes, mp_context=get_context("spawn")) as pool:
        parts = list(pool.map(client_process, [job] * processes, [int(s) for s in starts], split))
    wall = time.perf_counter() - started
    sent = Sent()
    for part in parts:
        sent.add(Sent(**part["sent"]))
    return {"sent": sent, "wall_seconds": wall,
            "request_seconds": [s for p in parts for s in p["request_seconds"]],
            "errors": [e for p in parts for e in p["errors"]],
            "trial_seconds": [s for p in parts for s in p["trial_seconds"]]}
