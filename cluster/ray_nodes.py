"""The Ray side of ``cluster.local``: starting a head and worker nodes with ``ray start``, each on
its own address (127.0.0.1 for all, or each node's subnet address in its own network namespace
with ``--netns``), each in a session of its own, with Ray's token authentication on; counting the
nodes alive.

The token is this cluster's own: drawn at ``up`` into ``<root>/ray-token`` (0600) and named to
the processes ``up`` starts by ``RAY_AUTH_TOKEN_PATH``, with ``RAY_AUTH_MODE=token`` — never
written to ``~/.ray/auth_token``, where a leftover token would switch later, unrelated ``ray``
commands on the host to token mode. ``down`` deletes it. Clients name it the same way
(:func:`client_env`; ``cluster.local up`` prints the line)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import urllib.request

from cluster import netns, postgres

TOKEN = "ray-token"
#: Ray settings from the caller's environment that must not reach this cluster's processes: an
#: address of another cluster, another token (``RAY_AUTH_TOKEN`` outranks ``RAY_AUTH_TOKEN_PATH``).
_CALLER_VARS = ("RAY_ADDRESS", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_AUTH_MODE")


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports: each socket stays bound until all are picked (picked one at a
    time, the kernel may hand out the port it just released — two of a node's agents were once
    given the same one and ``ray start`` refused)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def token_path(state: dict) -> str:
    return os.path.join(state["root"], TOKEN)


def write_token(state: dict) -> None:
    """A fresh token for this cluster (a new one at every ``up``), readable by its owner only."""
    postgres.write_private(token_path(state), secrets.token_hex(32))


def remove_token(state: dict) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(token_path(state))


def client_env(state: dict) -> dict[str, str]:
    """What a Ray process or client of this cluster needs in its environment to be let in."""
    return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": token_path(state)}


def environment(state: dict) -> dict[str, str]:
    """The environment ``up`` starts the nodes with: the caller's, without its Ray address or
    token, with this cluster's token and the interpreter's ``bin`` first on PATH."""
    env = {k: v for k, v in os.environ.items() if k not in _CALLER_VARS}
    env.update(client_env(state))
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


def auth_header(state: dict) -> dict[str, str]:
    """The HTTP header the dashboard (and its Jobs API) wants from this cluster's clients."""
    try:
        with open(token_path(state)) as handle:
            return {"Authorization": f"Bearer {handle.read().strip()}"}
    except OSError:
        return {}


def node_ports(*extra: str) -> list[str]:
    """Distinct agent/metrics ports for one node: several nodes (and any other Ray instance on
    this host) must not fight over Ray's fixed defaults (e.g. the dashboard agent's 52365)."""
    flags = ("--dashboard-agent-listen-port", "--dashboard-agent-grpc-port", "--metrics-export-port",
             "--runtime-env-agent-port", "--node-manager-port", "--object-manager-port", *extra)
    return [item for flag, port in zip(flags, free_ports(len(flags)), strict=True) for item in (flag, str(port))]


def ray_cli(env: dict, *args: str) -> tuple[subprocess.CompletedProcess, int]:
    """Run ``ray *args`` in a new session; returns its result and the session's id (its PID),
    which every process it leaves running (daemons, agents, workers) keeps."""
    ray = shutil.which("ray", path=env["PATH"]) or "ray"
    proc = subprocess.Popen([ray, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), proc.pid


def alive_nodes(state: dict) -> int:
    """Number of alive Ray nodes according to the dashboard's REST API (with the token)."""
    request = urllib.request.Request(f"{state['dashboard']}/nodes?view=summary", headers=auth_header(state))
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            data = json.load(resp)
        return sum(1 for n in data["data"]["summary"] if n.get("raylet", {}).get("state") == "ALIVE")
    except Exception:
        return 0


def node(state: dict, name: str) -> tuple[str | None, str]:
    """(network namespace or None, address) of node ``name`` ("head", "w0", …) of this cluster."""
    if not state.get("netns"):
        return None, "127.0.0.1"
    spec = state["netns"]["nodes"][name]
    return spec["ns"], spec["address"]


def start(state: dict, env: dict, save=lambda state: None) -> None:
    """The head (schedules only) and the worker nodes, each with its own temp dir and ports, each
    started inside its own namespace when there are namespaces. Each ``ray start`` runs in a
    session of its own, recorded in ``state["ray_sessions"]`` (and ``save``d) before the next."""
    gcs, temp_dir = state["gcs_address"].rsplit(":", 1)[1], state["temp_dir"]
    sessions = state.setdefault("ray_sessions", [])
    ns, address = node(state, "head")
    with netns.entered(ns):
        out, sid = ray_cli(env, "start", "--head", "--node-ip-address", address, "--port", gcs,
                           "--num-cpus", "0", "--num-gpus", "0", "--include-dashboard", "true",
                           "--dashboard-host", address, "--dashboard-port", state["dashboard"].rsplit(":", 1)[1],
                           "--temp-dir", temp_dir, "--disable-usage-stats",
                           *node_ports("--ray-client-server-port"))  # not the fixed 10001
    sessions.append(sid)
    save(state)
    if out.returncode != 0:
        raise RuntimeError(f"ray start --head failed: {out.stderr[-2000:]}")
    for i in range(state["workers"]):
        start_worker(state, env, i, save)


def start_worker(state: dict, env: dict, i: int, save=lambda state: None) -> int:
    """Worker node ``i`` (again, after it was lost: ``cluster.chaos``), in its namespace; its
    session is recorded in ``state["ray_sessions"]`` (and ``save``d) before anything else, so that
    ``down`` stops it; returns the session's id."""
    # Each node gets its own temp dir: nodes on one host sharing one would share their runtime-env
    # cache, and a worker's cleanup would delete the working dir a job driver on the head is running in.
    ns, address = node(state, f"w{i}")
    with netns.entered(ns):
        out, sid = ray_cli(env, "start", "--address", state["gcs_address"], "--node-ip-address", address,
                           "--num-cpus", str(state["cpus_per_worker"]), "--num-gpus", "0",
                           "--temp-dir", f"{state['temp_dir']}/w{i}", "--disable-usage-stats", *node_ports())
    state.setdefault("ray_sessions", []).append(sid)
    save(state)
    if out.returncode != 0:
        raise RuntimeError(f"ray start (worker) failed: {out.stderr[-2000:]}")
    return sid
