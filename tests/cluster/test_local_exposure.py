"""What `cluster.local up` (default mode, no namespaces) exposes, as its docs say it: the
dashboard and MLflow on 127.0.0.1 only; Ray's GCS, raylets, agents and client server beyond
loopback (Ray's own choice) but behind this cluster's token; and `down` leaves no process of it
and no socket it listened on."""

import os
import stat
import subprocess
import sys
import urllib.parse

import pytest

from cluster import local, processes, ray_nodes
from tests.cluster.ray_access import assert_refused_without_token

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOOPBACK = ("127.", "[::1]", "[::ffff:127.")


def listening_ports():
    """Ports any process of this host's network namespace listens on (TCP)."""
    out = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True, check=True).stdout
    return {int(line.split()[3].rsplit(":", 1)[1]) for line in out.splitlines() if line.strip()}


def port_of(url):
    return urllib.parse.urlsplit(url).port


def node_env(pid):
    with open(f"/proc/{pid}/environ", "rb") as handle:
        return dict(item.split("=", 1) for item in handle.read().decode(errors="replace").split("\0") if "=" in item)


def test_default_up_listens_where_documented_and_down_stops_every_process(tmp_path):
    root, home = tmp_path / "cluster", tmp_path / "home"
    home.mkdir()
    before = listening_ports()
    # the caller's own Ray settings (auth off, a token of its own) must not reach the cluster
    env = {**os.environ, "PYTHONPATH": REPO, "HOME": str(home), "RAY_AUTH_MODE": "disabled",
           "RAY_AUTH_TOKEN": "caller-token"}
    cli = [sys.executable, "-m", "cluster.local"]
    up = subprocess.run(cli + ["up", "--root", str(root), "--workers", "1"], capture_output=True, text=True,
                        timeout=400, env=env, cwd=REPO)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        state = local.read_state(str(root))
        token = ray_nodes.token_path(state)
        assert stat.S_IMODE(os.stat(token).st_mode) == 0o600 and f"RAY_AUTH_TOKEN_PATH={token}" in up.stdout
        pids = local.own_pids(state)
        sockets = processes.listening(pids)
        by_port = {}
        for _, address in sockets:
            by_port.setdefault(int(address.rsplit(":", 1)[1]), []).append(address)
        for url in (state["dashboard"], state["mlflow"]):  # the documented 127.0.0.1 services
            assert by_port[port_of(url)] and all(a.startswith(LOOPBACK) for a in by_port[port_of(url)]), by_port
        ray = set(processes.in_sessions(state["ray_sessions"]))
        exposed = [(pid, a) for pid, a in sockets if not a.startswith(LOOPBACK)]
        assert exposed and all(pid in ray for pid, _ in exposed), exposed  # only Ray's, guarded by the token
        assert not [a for _, a in sockets if a.endswith(":10001")]  # no fixed client port shared with others
        for pid in ray:
            if not processes.gone(pid) and "raylet" in open(f"/proc/{pid}/cmdline", "rb").read().decode():
                ray_env = node_env(pid)
                assert ray_env["RAY_AUTH_MODE"] == "token" and ray_env["RAY_AUTH_TOKEN_PATH"] == token
                assert "RAY_AUTH_TOKEN" not in ray_env
        assert_refused_without_token(state)
        down = subprocess.run(cli + ["down", "--root", str(root)], capture_output=True, text=True, timeout=180,
                              env=env)
        assert down.returncode == 0, down.stdout + down.stderr
        left = [p for p in set(pids) | set(processes.in_sessions(state["ray_sessions"])) if not processes.gone(p)]
        assert left == [] and processes.listening(pids) == []
        ours = {int(a.rsplit(":", 1)[1]) for _, a in sockets}
        assert not (listening_ports() - before) & ours
        assert not os.path.exists(token) and not (home / ".ray").exists()  # no token left anywhere
    finally:
        if local.read_state(str(root)):
            local.down(str(root))
