"""``python -m cluster.local up|down|status``: a real multi-node Ray cluster and an MLflow server on
one machine, all bound to 127.0.0.1 — to try ``ray job submit`` and a shared tracking server the
way a real cluster is used, without one.

``up`` starts a Ray head (``--num-cpus 0``: it only schedules, like a cluster head), N worker
nodes (separate raylets with their own CPUs), and a lean MLflow server (``cluster.mlflow_server``:
one worker, job execution off, artifacts served over HTTP with ``--artifacts-destination``). Its
store is SQLite (``--backend sqlite``, the default) or a PostgreSQL server of its own
(``--backend postgres``, :mod:`cluster.postgres`); ``--auth`` puts it behind MLflow's basic auth,
with the credentials from ``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD`` (or generated
into ``<root>/mlflow-auth.env``, 0600) handed to the Ray nodes' environment as a cluster's
pods get them from a Secret. It waits until all nodes are alive and MLflow answers ``/health``,
writes its bookkeeping (ports, PIDs, paths; never a password) to ``<root>/local-cluster.json`` and
prints the commands to use it. ``down`` stops only what ``up`` started: the Ray processes of this
cluster's own temp dir, the MLflow server's process group and PostgreSQL by its PID (never ``ray
stop``, which would kill every Ray process on the host). ``status`` reports them.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

from cluster import postgres, processes

STATE = "local-cluster.json"
CREDENTIALS = "mlflow-auth.env"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: Server settings from the caller's environment that must not leak into this cluster's server.
_SERVER_VARS = ("MLFLOW_TRACKING_URI", "MLFLOW_BACKEND_STORE_URI", "MLFLOW_AUTH_DATABASE_URI",
                "MLFLOW_AUTH_ADMIN_USERNAME", "MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_AUTH_CONFIG_PATH",
                "POSTGRES_PASSWORD", "PGPASSWORD")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("RAY_AUTH_MODE", "disabled")
    env.pop("RAY_ADDRESS", None)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


def node_ports() -> list[str]:
    """Distinct agent/metrics ports for one node: several nodes (and any other Ray instance on
    this host) must not fight over Ray's fixed defaults (e.g. the dashboard agent's 52365)."""
    return ["--dashboard-agent-listen-port", str(free_port()), "--dashboard-agent-grpc-port", str(free_port()),
            "--metrics-export-port", str(free_port()), "--runtime-env-agent-port", str(free_port()),
            "--node-manager-port", str(free_port()), "--object-manager-port", str(free_port())]


def _ray(env: dict, *args: str) -> subprocess.CompletedProcess:
    ray = shutil.which("ray", path=env["PATH"]) or "ray"
    return subprocess.run([ray, *args], env=env, capture_output=True, text=True, timeout=180)


def alive_nodes(dashboard: str) -> int:
    """Number of alive Ray nodes according to the dashboard's REST API."""
    try:
        with urllib.request.urlopen(f"{dashboard}/nodes?view=summary", timeout=5) as resp:
            data = json.load(resp)
        return sum(1 for n in data["data"]["summary"] if n.get("raylet", {}).get("state") == "ALIVE")
    except Exception:
        return 0


def mlflow_healthy(url: str) -> bool:
    """Does the server answer ``/health`` (open even behind basic auth)?"""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=3) as resp:
            return resp.status == 200
    except Exception:
        return False


def credentials(root: str) -> tuple[dict[str, str], str]:
    """The MLflow login for ``--auth`` and where it came from: ``MLFLOW_TRACKING_USERNAME`` /
    ``MLFLOW_TRACKING_PASSWORD`` from the environment, else ``<root>/mlflow-auth.env`` (0600),
    generated on the first ``up`` and reused after (the auth store keeps the first password)."""
    user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if user and password:
        return {"MLFLOW_TRACKING_USERNAME": user, "MLFLOW_TRACKING_PASSWORD": password}, "environment"
    path = os.path.join(root, CREDENTIALS)
    if not os.path.exists(path):
        postgres.write_private(path, f"MLFLOW_TRACKING_USERNAME=betasweep\n"
                                     f"MLFLOW_TRACKING_PASSWORD={secrets.token_urlsafe(24)}\n")
    with open(path) as handle:
        pairs = dict(line.rstrip("\n").split("=", 1) for line in handle if "=" in line)
    return pairs, path


def _save(state: dict) -> None:
    with open(os.path.join(state["root"], STATE), "w") as handle:
        json.dump(state, handle, indent=1)


def _start_ray(state: dict, env: dict) -> None:
    """The head (schedules only) and the worker nodes, each with its own temp dir and ports."""
    gcs, temp_dir = state["gcs_address"].rsplit(":", 1)[1], state["temp_dir"]
    out = _ray(env, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", gcs,
               "--num-cpus", "0", "--num-gpus", "0", "--include-dashboard", "true",
               "--dashboard-host", "127.0.0.1", "--dashboard-port", state["dashboard"].rsplit(":", 1)[1],
               "--temp-dir", temp_dir, "--disable-usage-stats", *node_ports())
    if out.returncode != 0:
        raise RuntimeError(f"ray start --head failed: {out.stderr[-2000:]}")
    for i in range(state["workers"]):
        # Each node gets its own temp dir: nodes on one host sharing one would share their
        # runtime-env cache, and a worker's cleanup would delete the working dir a job driver on
        # the head is running in.
        out = _ray(env, "start", "--address", state["gcs_address"], "--node-ip-address", "127.0.0.1",
                   "--num-cpus", str(state["cpus_per_worker"]), "--num-gpus", "0", "--temp-dir", f"{temp_dir}/w{i}",
                   "--disable-usage-stats", *node_ports())
        if out.returncode != 0:
            raise RuntimeError(f"ray start (worker) failed: {out.stderr[-2000:]}")


def start_mlflow(state: dict, env: dict) -> subprocess.Popen:
    """``cluster.mlflow_server`` on 127.0.0.1 with this cluster's store (and auth), in its own
    process group; the store's connection settings go through the environment, never a password."""
    root = state["root"]
    env = {k: v for k, v in env.items() if k not in _SERVER_VARS and not k.startswith("POSTGRES_")}
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    if state["backend"] == "postgres":
        env.update(postgres.connection_env(state["postgres"]))
    else:
        env["MLFLOW_BACKEND_STORE_URI"] = f"sqlite:///{os.path.join(root, 'mlflow.db')}"
    cmd = [sys.executable, "-m", "cluster.mlflow_server", "--host", "127.0.0.1", "--port",
           state["mlflow"].rsplit(":", 1)[1], "--artifacts-destination", os.path.join(root, "mlartifacts")]
    if state["auth"]:
        cmd += ["--auth", "--auth-config", os.path.join(root, "mlflow-auth.ini")]
    with open(os.path.join(root, "mlflow-server.log"), "w") as log:
        return subprocess.Popen(cmd, env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def up(root: str, workers: int = 2, cpus_per_worker: int = 1, timeout: float = 180,
       backend: str = "sqlite", auth: bool = False) -> dict:
    """Start [PostgreSQL +] head + workers + MLflow; returns the bookkeeping (also written to root)."""
    root = os.path.abspath(root)
    os.makedirs(root, exist_ok=True)
    if os.path.exists(os.path.join(root, STATE)):
        raise RuntimeError(f"a local cluster is already recorded in {root}; run `down` first")
    if backend not in ("sqlite", "postgres"):
        raise RuntimeError(f"backend must be sqlite or postgres, not {backend!r}")
    gcs = free_port()
    state = {"root": root, "temp_dir": f"/tmp/bsw-{gcs}",  # short: Ray's unix sockets live under it
             "gcs_address": f"127.0.0.1:{gcs}", "dashboard": f"http://127.0.0.1:{free_port()}",
             "mlflow": f"http://127.0.0.1:{free_port()}", "workers": workers, "cpus_per_worker": cpus_per_worker,
             "backend": backend, "auth": auth}
    _save(state)
    env = _env()
    try:
        if auth:
            login, state["credentials"] = credentials(root)
            state["mlflow_user"] = login["MLFLOW_TRACKING_USERNAME"]
            env.update(login)  # the nodes' environment: every job driver and trial inherits it
        env["MLFLOW_TRACKING_URI"] = state["mlflow"]  # where the nodes' drivers and trials log by default
        if backend == "postgres":
            state["postgres"] = postgres.start(root, free_port())
            _save(state)
        _start_ray(state, env)
        server = start_mlflow(state, env)
        state["mlflow_pid"] = server.pid
        _save(state)
        _wait_healthy(state, server, timeout)
    except BaseException:
        down(root)
        raise
    return state


def _wait_healthy(state: dict, server: subprocess.Popen, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if alive_nodes(state["dashboard"]) >= state["workers"] + 1 and mlflow_healthy(state["mlflow"]):
            return
        if server.poll() is not None:
            break
        time.sleep(1)
    raise RuntimeError(f"local cluster did not become healthy in {timeout:.0f}s (see {state['root']}/"
                       f"mlflow-server.log, postgres.log and {state['temp_dir']}/session_latest/logs)")


def read_state(root: str) -> dict | None:
    path = os.path.join(os.path.abspath(root), STATE)
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        return json.load(handle)


def own_pids(state: dict) -> list[int]:
    """Every live process this cluster started: Ray's (by temp dir), the MLflow server's group and
    PostgreSQL's (the postmaster and its backends)."""
    pids = set(processes.with_marker(state["temp_dir"]))
    pids.update(processes.group_of(state.get("mlflow_pid")))
    pids.update(processes.group_of(state.get("postgres", {}).get("pid")))
    return sorted(pids)


def down(root: str, grace: float = 10.0) -> list[int]:
    """Stop only this cluster's processes — Ray and MLflow (TERM, then KILL after ``grace`` s), then
    PostgreSQL by its PID once nothing uses it — and return their PIDs. The stores stay."""
    state = read_state(root)
    if state is None:
        return []
    pids = own_pids(state)
    database = set(processes.group_of(state.get("postgres", {}).get("pid")))
    processes.stop([p for p in pids if p not in database], grace=grace)
    postgres.stop(state.get("postgres", {}))
    shutil.rmtree(state["temp_dir"], ignore_errors=True)
    os.remove(os.path.join(os.path.abspath(root), STATE))
    return pids


def commands(state: dict) -> str:
    """The commands a person uses against this cluster (never a password)."""
    lines = [f"Ray dashboard:  {state['dashboard']}    MLflow: {state['mlflow']}"]
    if state.get("backend") == "postgres":
        pg = state["postgres"]
        lines.append(f"MLflow store:   PostgreSQL on 127.0.0.1:{pg['port']}, role {postgres.USER} (server runs as "
                     f"{pg['user']}, data {pg['data_dir']}; passwords in {pg['passfile']}, mode 0600)")
    if state.get("auth"):
        source = state["credentials"]
        lines.append(f"MLflow login:   user {state['mlflow_user']} (basic auth); the Ray nodes have it in their "
                     "environment" + ("" if source == "environment" else
                                      f"; for your shell: set -a; . {source}; set +a"))
    return "\n".join(lines + [
        "Submit a study:",
        f"  ray job submit --address {state['dashboard']} --working-dir . "
        f"--runtime-env cluster/runtime_env.yaml -- \\",
        f"    python -m study.run --root {state['root']}/runs --tracking-uri {state['mlflow']}",
        f"Browse: each study ends by printing the link to its runs table on {state['mlflow']}; "
        f"python -m analysis list --tracking-uri {state['mlflow']} lists the studies",
        f"Stop:   python -m cluster.local down --root {state['root']}",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cluster.local",
                                     description="A local multi-node Ray cluster + MLflow server on 127.0.0.1.")
    parser.add_argument("command", choices=("up", "down", "status"), help="What to do.")
    parser.add_argument("--root", default="betasweep-cluster",
                        help="Folder for bookkeeping, the MLflow store and artifacts (default: betasweep-cluster).")
    parser.add_argument("--workers", type=int, default=2, help="Ray worker nodes to start (default 2).")
    parser.add_argument("--cpus-per-worker", type=int, default=1, help="CPUs each worker node offers (default 1).")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite",
                        help="MLflow's store: a SQLite file (default) or a PostgreSQL server of its own.")
    parser.add_argument("--auth", action="store_true",
                        help="Serve MLflow behind basic auth; login from MLFLOW_TRACKING_USERNAME/PASSWORD, "
                             "else generated into <root>/mlflow-auth.env.")
    args = parser.parse_args(argv)
    if args.command == "up":
        try:
            state = up(args.root, args.workers, args.cpus_per_worker, backend=args.backend, auth=args.auth)
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(commands(state))
        return 0
    if args.command == "down":
        pids = down(args.root)
        print(f"stopped {len(pids)} process(es)" if pids else "nothing recorded to stop")
        return 0
    state = read_state(args.root)
    if state is None:
        print("no local cluster recorded in", os.path.abspath(args.root))
        return 1
    database = ""
    if state.get("postgres"):
        database = f"; postgres running: {not processes.gone(state['postgres']['pid'])}"
    print(f"ray nodes alive: {alive_nodes(state['dashboard'])} (expected {state['workers'] + 1}); "
          f"mlflow healthy: {mlflow_healthy(state['mlflow'])}{database}; processes: {len(own_pids(state))}")
    print(commands(state))
    return 0


if __name__ == "__main__":
    sys.exit(main())
