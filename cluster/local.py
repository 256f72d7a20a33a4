"""``python -m cluster.local up|down|status``: a real multi-node Ray cluster and an MLflow server on
one machine — to try ``ray job submit`` and a shared tracking server the way a real cluster is
used, without one. Ray's token authentication is on (a token of this cluster's own, 0600 in its
root: :mod:`cluster.ray_nodes`). The dashboard, MLflow and PostgreSQL bind 127.0.0.1; Ray's GCS and
raylets listen on all interfaces and its agents and client server on the host's routable address
(Ray replaces ``--node-ip-address 127.0.0.1`` with it), guarded by the token only. ``--netns`` is
the isolated mode: each node in a network namespace of its own on a private subnet
(:mod:`cluster.netns`), nothing on the host's interfaces, and, as on a real cluster, a service
bound to the head's 127.0.0.1 out of the workers' reach: Ray and MLflow bind the head's subnet
address, which the host reaches over its own.

``up`` starts a Ray head (``--num-cpus 0``: it only schedules), N worker nodes (raylets with their
own CPUs), and a lean MLflow server (``cluster.mlflow_server``: job execution off, artifacts over
HTTP; one process on SQLite, four on PostgreSQL). Its store is SQLite (``--backend sqlite``, the
default) or a PostgreSQL server of its own (``--backend postgres``, :mod:`cluster.postgres`);
``--auth`` puts it behind MLflow's basic auth with two logins (:mod:`cluster.mlflow_users`): the
admin's (``MLFLOW_AUTH_ADMIN_*``, else generated into ``<root>/mlflow-admin.env``), the MLflow
server's alone, and the trials' (``MLFLOW_TRACKING_USERNAME``/``PASSWORD``, else
``<root>/mlflow-auth.env``; both 0600): no admin, EDIT on the study experiment, in the Ray nodes'
environment as a cluster's pods get it from a Secret. The nodes get no server secret (admin,
database); the root is 0700. It waits until all nodes are alive and MLflow answers ``/health``,
writes its bookkeeping (ports, PIDs, sessions, paths; never a password) to
``<root>/local-cluster.json`` and prints how to use it. ``down`` stops only what ``up`` started:
every process of its ``ray start``s' sessions, the MLflow server's process group and PostgreSQL by
its PID (never ``ray stop``, which would kill every Ray process on the host), then deletes the
namespaces and the token. ``status`` reports them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request

from cluster import mlflow_users, netns, postgres, processes, ray_nodes
from cluster.ray_nodes import alive_nodes, free_port

STATE = "local-cluster.json"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: Server settings from the caller's environment that must not leak into this cluster's server.
_SERVER_VARS = ("MLFLOW_TRACKING_URI", "MLFLOW_BACKEND_STORE_URI", "MLFLOW_AUTH_DATABASE_URI",
                "MLFLOW_AUTH_ADMIN_USERNAME", "MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_AUTH_CONFIG_PATH",
                "POSTGRES_PASSWORD", "PGPASSWORD")


def _node_env(state: dict) -> dict[str, str]:
    """The Ray nodes' environment (:func:`cluster.ray_nodes.environment`: this cluster's token, no
    other cluster's address), without the MLflow server's settings and secrets."""
    return {k: v for k, v in ray_nodes.environment(state).items()
            if k not in _SERVER_VARS and not k.startswith("POSTGRES_")}


def mlflow_healthy(url: str) -> bool:
    """Does the server answer ``/health`` (open even behind basic auth)?"""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=3) as resp:
            return resp.status == 200
    except Exception:
        return False


def _save(state: dict) -> None:
    with open(os.path.join(state["root"], STATE), "w") as handle:
        json.dump(state, handle, indent=1)


def start_mlflow(state: dict, env: dict) -> subprocess.Popen:
    """``cluster.mlflow_server`` on the host of ``state["mlflow"]`` (127.0.0.1, or the head's subnet
    address with ``--netns``) with this cluster's store (and auth), in its own process group; the
    store's connection settings go through the environment, never a password."""
    root = state["root"]
    env = {k: v for k, v in env.items() if k not in _SERVER_VARS and not k.startswith(("POSTGRES_", "RAY_AUTH"))}
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    if state["auth"]:  # the admin: the server's alone
        env.update(mlflow_users.login(root, "admin")[0])
    if state["backend"] == "postgres":
        env.update(postgres.connection_env(state["postgres"]))
    else:
        env["MLFLOW_BACKEND_STORE_URI"] = f"sqlite:///{os.path.join(root, 'mlflow.db')}"
    url = urllib.parse.urlsplit(state["mlflow"])
    cmd = [sys.executable, "-m", "cluster.mlflow_server", "--host", url.hostname, "--port", str(url.port),
           "--artifacts-destination", os.path.join(root, "mlartifacts")]
    if state["auth"]:
        cmd += ["--auth", "--auth-config", os.path.join(root, "mlflow-auth.ini")]
    with open(os.path.join(root, "mlflow-server.log"), "w") as log:
        return subprocess.Popen(cmd, env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _new_state(root: str, workers: int, cpus_per_worker: int, backend: str, auth: bool,
               isolate: bool, subnet: str | None) -> dict:
    """The bookkeeping of a cluster about to start: its ports and, with ``isolate``, the namespace
    layout, the head's subnet address serving Ray's GCS, the dashboard and MLflow."""
    if backend not in ("sqlite", "postgres"):
        raise RuntimeError(f"backend must be sqlite or postgres, not {backend!r}")
    why = netns.unavailable() if isolate else None
    if why:
        raise RuntimeError(f"--netns: {why}")
    gcs, head, layout = free_port(), "127.0.0.1", None
    while os.path.exists(f"/tmp/bsw-{gcs}") or (isolate and netns.in_use(str(gcs))):
        gcs = free_port()  # another cluster's names: its own `down` alone may remove them
    if isolate:
        layout = netns.layout(str(gcs), netns.choose_subnet(subnet, workers + 1), workers)
        head = layout["nodes"]["head"]["address"]
    dashboard, mlflow = [p for p in ray_nodes.free_ports(3) if p != gcs][:2]  # distinct, not the GCS's
    return {"root": root, "temp_dir": f"/tmp/bsw-{gcs}",  # short: Ray's unix sockets live under it
            "gcs_address": f"{head}:{gcs}", "dashboard": f"http://{head}:{dashboard}",
            "mlflow": f"http://{head}:{mlflow}", "workers": workers, "cpus_per_worker": cpus_per_worker,
            "backend": backend, "auth": auth, "netns": layout}


def up(root: str, workers: int = 2, cpus_per_worker: int = 1, timeout: float = 180,
       backend: str = "sqlite", auth: bool = False, isolate: bool = False, subnet: str | None = None,
       experiment: str = "betasweep") -> dict:
    """Start [namespaces +] [PostgreSQL +] head + workers + MLflow; returns the bookkeeping (also
    written to root before anything starts, so that ``down`` undoes a partial ``up``)."""
    root = os.path.abspath(root)
    os.makedirs(root, exist_ok=True)
    os.chmod(root, 0o700)  # stores, logins, logs: the owner's (PostgreSQL's user may pass through: 0701)
    if os.path.exists(os.path.join(root, STATE)):
        raise RuntimeError(f"a local cluster is already recorded in {root}; run `down` first")
    state = _new_state(root, workers, cpus_per_worker, backend, auth, isolate, subnet)
    _save(state)
    ray_nodes.write_token(state)
    env = _node_env(state)
    head_ns = ray_nodes.node(state, "head")[0]
    try:
        if state["netns"]:
            netns.create(state["netns"])
        if auth:
            login, state["credentials"] = mlflow_users.login(root, "trials")
            state["mlflow_user"] = login["MLFLOW_TRACKING_USERNAME"]
            env.update(login)  # the nodes' environment: every job driver and trial inherits it
        env["MLFLOW_TRACKING_URI"] = state["mlflow"]  # where the nodes' drivers and trials log by default
        if backend == "postgres":
            with netns.entered(head_ns):  # on the head's own loopback: only the MLflow server uses it
                state["postgres"] = postgres.start(root, free_port())
            _save(state)
        ray_nodes.start(state, env, _save)
        with netns.entered(head_ns):
            server = start_mlflow(state, env)
        state["mlflow_pid"] = server.pid
        _save(state)
        _wait_healthy(state, server, timeout)
        if auth:
            mlflow_users.provision(state["mlflow"], mlflow_users.login(root, "admin")[0], login, experiment)
    except BaseException:
        down(root)
        raise
    return state


def _wait_healthy(state: dict, server: subprocess.Popen, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if alive_nodes(state) >= state["workers"] + 1 and mlflow_healthy(state["mlflow"]):
            return
        if server.poll() is not None:
            raise RuntimeError(processes.died_message("MLflow server", server.returncode,
                                                      os.path.join(state["root"], "mlflow-server.log")))
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
    """Every live process this cluster started: Ray's (the sessions of its ``ray start``s, and by
    temp dir), the MLflow server's group, PostgreSQL's (the postmaster and its backends) and, with
    ``--netns``, any process left in the cluster's namespaces."""
    pids = set(processes.with_marker(state["temp_dir"])) | set(processes.in_sessions(state.get("ray_sessions", [])))
    pids.update(processes.group_of(state.get("mlflow_pid")))
    pids.update(processes.server_of(state.get("postgres", {}).get("pid")))
    if state.get("netns"):
        pids.update(netns.pids(state["netns"]))
    return sorted(pids)


def stop_order(pids: list[int]) -> list[list[int]]:
    """``pids`` in the batches ``ray stop`` stops them in: the raylets (their agents and workers
    follow them), then everything else (MLflow, the dashboard, the autoscaler monitor, …), the GCS
    last. Sent SIGTERM all at once, the GCS and the autoscaler monitor outlived a 10 s ``grace`` and
    were killed; in this order the raylets and the GCS each exit within a second (probes of a
    one-worker cluster on 2 loaded cores, where the MLflow server's exit itself took 4-10 s)."""
    raylets = [p for p in pids if processes.program(p) == "raylet"]
    gcs = [p for p in pids if processes.program(p) == "gcs_server"]
    return [batch for batch in (raylets, [p for p in pids if p not in raylets and p not in gcs], gcs) if batch]


def down(root: str, grace: float = 10.0) -> list[int]:
    """Stop only this cluster's processes — Ray (every process of its sessions: agents, the client
    server, workers too) and MLflow (TERM, then KILL after ``grace`` s, batch by batch in
    :func:`stop_order`), then PostgreSQL by its PID once nothing uses it — delete its namespaces
    and its Ray token, and return the PIDs. The stores stay. Works on what a failed ``up`` left
    half-built."""
    state = read_state(root)
    if state is None:
        return []
    pids, postmaster = own_pids(state), state.get("postgres", {}).get("pid")
    for _ in range(2):  # the second round: anything started while the first was stopping
        database = set(processes.server_of(postmaster))  # stopped by its own fast shutdown below
        for batch in stop_order([p for p in own_pids(state) if p not in database]):
            processes.stop(batch, grace=grace)
    postgres.stop(state.get("postgres", {}))
    left = [f"process {p}" for p in own_pids(state) if not processes.gone(p)]
    if state.get("netns"):
        left = netns.destroy(state["netns"]) + left
    if left:
        raise RuntimeError(f"down left behind: {', '.join(left)} (bookkeeping kept in {root})")
    shutil.rmtree(state["temp_dir"], ignore_errors=True)
    ray_nodes.remove_token(state)
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
        lines.append(f"MLflow login:   user {state['mlflow_user']} (basic auth, EDIT on the study experiment; the "
                     "admin's login is the server's only); the Ray nodes have it in their "
                     "environment" + ("" if source == "environment" else
                                      f"; for your shell: set -a; . {source}; set +a"))
    if state.get("netns"):
        lines.append(netns.describe(state["netns"]))
    return "\n".join(lines + [
        f"Ray token:      {ray_nodes.token_path(state)} (0600, deleted at down); every ray command against this "
        f"cluster needs it: export {' '.join(f'{k}={v}' for k, v in ray_nodes.client_env(state).items())}",
        "Submit a study:",
        f"  ray job submit --address {state['dashboard']} --working-dir . "
        f"--runtime-env cluster/runtime_env.yaml -- \\",
        f"    python -m study.run --root {state['root']}/runs --tracking-uri {state['mlflow']}",
        f"Browse: each study ends by printing the link to its runs table on {state['mlflow']}; "
        f"python -m analysis list --tracking-uri {state['mlflow']} lists the studies",
        f"Stop:   python -m cluster.local down --root {state['root']}",
    ])


def status(state: dict) -> str:
    """One line: what of the cluster is alive, and what of its namespaces exists."""
    extra = ""
    if state.get("postgres"):
        extra += f"; postgres running: {not processes.gone(state['postgres']['pid'])}"
    if state.get("netns"):
        info = state["netns"]
        extra += f"; namespaces and uplink present: {len(netns.leftovers(info))} of {len(netns.namespaces(info)) + 1}"
    return (f"ray nodes alive: {alive_nodes(state)} (expected {state['workers'] + 1}); "
            f"mlflow healthy: {mlflow_healthy(state['mlflow'])}{extra}; processes: {len(own_pids(state))}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cluster.local",
                                     description=__doc__.split("\n\n")[0].split(": ", 1)[1])
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
    parser.add_argument("--netns", action="store_true",
                        help="Run each node in its own network namespace on a private subnet (needs root).")
    parser.add_argument("--subnet", default=os.environ.get("BETASWEEP_NETNS_SUBNET"),
                        help="With --netns: the subnet (default $BETASWEEP_NETNS_SUBNET, else the first "
                             f"/24 of {netns.POOL} the host does not use).")
    parser.add_argument("--experiment", default="betasweep",
                        help="With --auth: the MLflow experiment the trials' login may edit (default betasweep).")
    args = parser.parse_args(argv)
    if args.command == "up":
        try:
            state = up(args.root, args.workers, args.cpus_per_worker, backend=args.backend, auth=args.auth,
                       isolate=args.netns, subnet=args.subnet, experiment=args.experiment)
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(commands(state))
        return 0
    if args.command == "down":
        try:
            pids = down(args.root)
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"stopped {len(pids)} process(es)" if pids else "nothing recorded to stop")
        return 0
    state = read_state(args.root)
    if state is None:
        print("no local cluster recorded in", os.path.abspath(args.root))
        return 1
    print(status(state))
    print(commands(state))
    return 0


if __name__ == "__main__":
    sys.exit(main())
