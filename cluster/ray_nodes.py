"""The Ray side of ``cluster.local``: starting a head and worker nodes with ``ray start``, each on
its own address (127.0.0.1 for all, or each node's subnet address in its own network namespace
with ``--netns``), and counting the nodes alive."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import urllib.request

from cluster import netns


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node_ports() -> list[str]:
    """Distinct agent/metrics ports for one node: several nodes (and any other Ray instance on
    this host) must not fight over Ray's fixed defaults (e.g. the dashboard agent's 52365)."""
    return ["--dashboard-agent-listen-port", str(free_port()), "--dashboard-agent-grpc-port", str(free_port()),
            "--metrics-export-port", str(free_port()), "--runtime-env-agent-port", str(free_port()),
            "--node-manager-port", str(free_port()), "--object-manager-port", str(free_port())]


def ray_cli(env: dict, *args: str) -> subprocess.CompletedProcess:
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


def node(state: dict, name: str) -> tuple[str | None, str]:
    """(network namespace or None, address) of node ``name`` ("head", "w0", …) of this cluster."""
    if not state.get("netns"):
        return None, "127.0.0.1"
    spec = state["netns"]["nodes"][name]
    return spec["ns"], spec["address"]


def start(state: dict, env: dict) -> None:
    """The head (schedules only) and the worker nodes, each with its own temp dir and ports, each
    started inside its own namespace when there are namespaces."""
    gcs, temp_dir = state["gcs_address"].rsplit(":", 1)[1], state["temp_dir"]
    ns, address = node(state, "head")
    with netns.entered(ns):
        out = ray_cli(env, "start", "--head", "--node-ip-address", address, "--port", gcs,
                      "--num-cpus", "0", "--num-gpus", "0", "--include-dashboard", "true",
                      "--dashboard-host", address, "--dashboard-port", state["dashboard"].rsplit(":", 1)[1],
                      "--temp-dir", temp_dir, "--disable-usage-stats", *node_ports())
    if out.returncode != 0:
        raise RuntimeError(f"ray start --head failed: {out.stderr[-2000:]}")
    for i in range(state["workers"]):
        # Each node gets its own temp dir: nodes on one host sharing one would share their
        # runtime-env cache, and a worker's cleanup would delete the working dir a job driver on
        # the head is running in.
        ns, address = node(state, f"w{i}")
        with netns.entered(ns):
            out = ray_cli(env, "start", "--address", state["gcs_address"], "--node-ip-address", address,
                          "--num-cpus", str(state["cpus_per_worker"]), "--num-gpus", "0",
                          "--temp-dir", f"{temp_dir}/w{i}", "--disable-usage-stats", *node_ports())
        if out.returncode != 0:
            raise RuntimeError(f"ray start (worker) failed: {out.stderr[-2000:]}")
