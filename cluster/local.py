"""``python -m cluster.local up|down|status``: a real multi-node Ray cluster and an MLflow server on
one machine, all bound to 127.0.0.1 — to try ``ray job submit`` and a shared tracking server the
way a real cluster is used, without one.

``up`` starts a Ray head (``--num-cpus 0``: it only schedules, like a cluster head), N worker
nodes (separate raylets with their own CPUs), and a lean MLflow server (one worker, job execution
off, SQLite backend, artifacts served over HTTP with ``--artifacts-destination``). It waits until
all nodes are alive and MLflow answers ``/health``, writes its bookkeeping (ports, PIDs, paths) to
``<root>/local-cluster.json`` and prints the commands to use it. ``down`` stops only what ``up``
started: the Ray processes of this cluster's own temp dir and the MLflow server's process group
(never ``ray stop``, which would kill every Ray process on the host). ``status`` reports both.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

STATE = "local-cluster.json"


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


def _ray(*args: str) -> subprocess.CompletedProcess:
    ray = shutil.which("ray", path=_env()["PATH"]) or "ray"
    return subprocess.run([ray, *args], env=_env(), capture_output=True, text=True, timeout=180)


def _processes_with(marker: str) -> list[int]:
    """PIDs whose command line mentions ``marker`` (this cluster's own temp dir)."""
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                if marker.encode() in handle.read():
                    pids.append(int(pid))
        except OSError:
            continue
    return pids


def alive_nodes(dashboard: str) -> int:
    """Number of alive Ray nodes according to the dashboard's REST API."""
    try:
        with urllib.request.urlopen(f"{dashboard}/nodes?view=summary", timeout=5) as resp:
            data = json.load(resp)
        return sum(1 for n in data["data"]["summary"] if n.get("raylet", {}).get("state") == "ALIVE")
    except Exception:
        return 0


def mlflow_healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=3) as resp:
            return resp.status == 200
    except Exception:
        return False


def up(root: str, workers: int = 2, cpus_per_worker: int = 1, timeout: float = 180) -> dict:
    """Start head + workers + MLflow; returns the bookkeeping dict (also written to root)."""
    root = os.path.abspath(root)
    os.makedirs(root, exist_ok=True)
    if os.path.exists(os.path.join(root, STATE)):
        raise RuntimeError(f"a local cluster is already recorded in {root}; run `down` first")
    gcs, dash, mlflow_port = free_port(), free_port(), free_port()
    temp_dir = f"/tmp/bsw-{gcs}"  # short: Ray's unix sockets live under it (path length limit)
    state = {"root": root, "temp_dir": temp_dir, "gcs_address": f"127.0.0.1:{gcs}",
             "dashboard": f"http://127.0.0.1:{dash}", "mlflow": f"http://127.0.0.1:{mlflow_port}",
             "workers": workers, "cpus_per_worker": cpus_per_worker}
    with open(os.path.join(root, STATE), "w") as handle:
        json.dump(state, handle, indent=1)
    out = _ray("start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(gcs),
               "--num-cpus", "0", "--num-gpus", "0", "--include-dashboard", "true",
               "--dashboard-host", "127.0.0.1", "--dashboard-port", str(dash),
               "--temp-dir", temp_dir, "--disable-usage-stats", *node_ports())
    if out.returncode != 0:
        raise RuntimeError(f"ray start --head failed: {out.stderr[-2000:]}")
    for i in range(workers):
        # Each node gets its own temp dir: nodes on one host sharing one would share their
        # runtime-env cache, and a worker's cleanup would delete the working dir a job driver on
        # the head is running in.
        out = _ray("start", "--address", state["gcs_address"], "--node-ip-address", "127.0.0.1",
                   "--num-cpus", str(cpus_per_worker), "--num-gpus", "0", "--temp-dir", f"{temp_dir}/w{i}",
                   "--disable-usage-stats", *node_ports())
        if out.returncode != 0:
            raise RuntimeError(f"ray start (worker) failed: {out.stderr[-2000:]}")
    env = _env()
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    log = open(os.path.join(root, "mlflow-server.log"), "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(mlflow_port),
         "--workers", "1", "--backend-store-uri", f"sqlite:///{os.path.join(root, 'mlflow.db')}",
         "--artifacts-destination", os.path.join(root, "mlartifacts")],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    state["mlflow_pid"] = server.pid
    with open(os.path.join(root, STATE), "w") as handle:
        json.dump(state, handle, indent=1)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if alive_nodes(state["dashboard"]) >= workers + 1 and mlflow_healthy(state["mlflow"]):
            return state
        if server.poll() is not None:
            break
        time.sleep(1)
    down(root)
    raise RuntimeError(f"local cluster did not become healthy in {timeout:.0f}s "
                       f"(see {root}/mlflow-server.log and {temp_dir}/session_latest/logs)")


def read_state(root: str) -> dict | None:
    path = os.path.join(os.path.abspath(root), STATE)
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        return json.load(handle)


def own_pids(state: dict) -> list[int]:
    """Every live process this cluster started: Ray's (by temp dir) and the MLflow server's group."""
    pids = set(_processes_with(state["temp_dir"]))
    pid = state.get("mlflow_pid")
    if pid:
        try:
            pgid = os.getpgid(pid)
            for p in os.listdir("/proc"):
                if p.isdigit():
                    try:
                        if os.getpgid(int(p)) == pgid:
                            pids.add(int(p))
                    except OSError:
                        pass
        except OSError:
            pass
    return sorted(pids)


def down(root: str, grace: float = 10.0) -> list[int]:
    """Stop only this cluster's processes (TERM, then KILL after ``grace`` s); returns their PIDs."""
    state = read_state(root)
    if state is None:
        return []
    pids = own_pids(state)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.time() + grace
        while time.time() < deadline and any(os.path.exists(f"/proc/{p}") and not _zombie(p) for p in pids):
            time.sleep(0.3)
    shutil.rmtree(state["temp_dir"], ignore_errors=True)
    os.remove(os.path.join(os.path.abspath(root), STATE))
    return pids


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ")[1].startswith("Z")
    except OSError:
        return True


def commands(state: dict) -> str:
    """The commands a person uses against this cluster."""
    return "\n".join([
        f"Ray dashboard:  {state['dashboard']}    MLflow: {state['mlflow']}",
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
    args = parser.parse_args(argv)
    if args.command == "up":
        try:
            state = up(args.root, args.workers, args.cpus_per_worker)
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
    print(f"ray nodes alive: {alive_nodes(state['dashboard'])} (expected {state['workers'] + 1}); "
          f"mlflow healthy: {mlflow_healthy(state['mlflow'])}; processes: {len(own_pids(state))}")
    print(commands(state))
    return 0


if __name__ == "__main__":
    sys.exit(main())
