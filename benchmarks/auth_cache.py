"""What the basic-auth login cache buys: the same authenticated requests against the project's MLflow
server (``cluster.mlflow_server --auth`` on SQLite, as ``cluster.local up --auth`` starts it) with
``--auth-cache-seconds 0`` (every request hashes the password again: werkzeug's scrypt, tens of ms
of CPU by design) and with the default, alternated A/B over ``--rounds`` server starts.

Each round: a fresh server, the trials' login provisioned (:func:`cluster.mlflow_users.provision`),
then ``--requests`` calls as that login, one after another, the mix a trial makes (log a metric
batch, read its run, look up the experiment). Prints each round's median and p90 latency and
requests per second, and the ratio of the medians.

Usage::

    python benchmarks/auth_cache.py [--requests 60] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from cluster import local, mlflow_server, mlflow_users, processes  # noqa: E402


def start(root: str, cache_seconds: int) -> tuple[dict, object]:
    state = {"root": root, "backend": "sqlite", "auth": True, "mlflow": f"http://127.0.0.1:{local.free_port()}"}
    env = {**os.environ, "MLFLOW_SERVER_AUTH_CACHE_SECONDS": str(cache_seconds)}
    proc = local.start_mlflow(state, env)
    admin, trials = mlflow_users.login(root, "admin")[0], mlflow_users.login(root, "trials")[0]
    try:
        experiment_id = mlflow_users.provision(state["mlflow"], admin, trials, timeout=180)
    except BaseException:
        processes.stop(processes.group_of(proc.pid), grace=10)
        raise
    return {**state, "experiment_id": experiment_id, "trials": trials}, proc


def timed_requests(state: dict, count: int) -> list[float]:
    """Seconds of each of ``count`` authenticated calls (a trial's mix), as the trials' login."""
    import requests

    user, password = (state["trials"][v] for v in mlflow_users.LOGINS["trials"][:2])
    session, url = requests.Session(), state["mlflow"] + "/api/2.0/mlflow"
    session.auth = (user, password)
    run_id = session.post(f"{url}/runs/create", json={"experiment_id": state["experiment_id"]},
                          timeout=30).json()["run"]["info"]["run_id"]
    calls = [("POST", "/runs/log-batch", {"json": {"run_id": run_id, "metrics": [
                 {"key": "train/loss", "value": 1.0, "timestamp": 0, "step": 0}]}}),
             ("GET", "/runs/get", {"params": {"run_id": run_id}}),
             ("GET", "/experiments/get-by-name", {"params": {"experiment_name": "betasweep"}})]
    seconds = []
    for k in range(count):
        method, path, kwargs = calls[k % len(calls)]
        if path == "/runs/log-batch":
            kwargs["json"]["metrics"][0]["step"] = k
        clock = time.perf_counter()
        resp = session.request(method, url + path, timeout=30, **kwargs)
        seconds.append(time.perf_counter() - clock)
        if resp.status_code != 200:
            raise RuntimeError(f"{method} {path}: HTTP {resp.status_code} {resp.text[:200]}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    medians: dict[int, list[float]] = {}
    print("cache s  round  median ms  p90 ms  requests/s")
    for round_ in range(args.rounds):
        for cache in (0, mlflow_server.DEFAULT_AUTH_CACHE_SECONDS):
            with tempfile.TemporaryDirectory(prefix="bsw-authcache-") as root:
                state, proc = start(root, cache)
                try:
                    seconds = timed_requests(state, args.requests)
                finally:
                    processes.stop(processes.group_of(proc.pid), grace=10)
            median, p90 = statistics.median(seconds), statistics.quantiles(seconds, n=10)[-1]
            medians.setdefault(cache, []).append(median)
            rate = len(seconds) / sum(seconds)
            print(f"{cache:7d}  {round_ + 1:5d}  {median * 1e3:9.1f}  {p90 * 1e3:6.1f}  {rate:10.1f}", flush=True)
    off, on = (statistics.median(medians[c]) for c in (0, mlflow_server.DEFAULT_AUTH_CACHE_SECONDS))
    print(f"median latency, cache off / on: {off * 1e3:.1f} ms / {on * 1e3:.1f} ms = {off / on:.1f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
