"""The network-namespace layout of `cluster.local up --netns`, without Ray: a service bound to the
head's 127.0.0.1 is out of a worker's reach while one on the head's subnet address is not (the
check that catches an MLflow server bound to loopback on a cluster head), and `down` removes every
namespace, link and process, also after an `up` that failed half-way."""

import os
import socket
import subprocess
import sys
import time

import pytest

from cluster import local, netns, processes

pytestmark = [pytest.mark.integration]

UNAVAILABLE = netns.unavailable()
needs_netns = pytest.mark.skipif(UNAVAILABLE is not None, reason=f"network namespaces unavailable: {UNAVAILABLE}")


def reachable(ns, host, port):
    """Does a TCP connection from namespace ``ns`` (None: the host) to host:port succeed?"""
    with netns.entered(ns):
        try:
            socket.create_connection((host, port), timeout=3).close()
            return True
        except OSError:
            return False


def serve(ns, host):
    """An HTTP server bound to host in namespace ns; returns (process, port) once it listens."""
    port = local.free_port()
    with netns.entered(ns):
        proc = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", host, str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 20
    while not reachable(ns, host, port):
        assert proc.poll() is None and time.time() < deadline, f"server on {host}:{port} did not start"
        time.sleep(0.1)
    return proc, port


@needs_netns
def test_choose_subnet_avoids_what_the_host_routes():
    taken = netns.host_networks()
    chosen = netns.choose_subnet(None, 3)
    assert chosen.subnet_of(netns.POOL) and not [t for t in taken if t.prefixlen and t.overlaps(chosen)]
    with pytest.raises(RuntimeError, match="overlaps"):
        netns.choose_subnet("127.0.0.0/24", 3)
    with pytest.raises(RuntimeError, match="cannot hold"):
        netns.choose_subnet("10.213.250.0/30", 3)


@needs_netns
def test_loopback_of_the_head_is_out_of_a_workers_reach():
    """Head, one worker, the host: loopback-bound on the head → only the head reaches it;
    subnet-bound → worker and host reach it; and after destroy nothing of the layout is left."""
    tag = f"t{os.getpid() % 100000}"
    info = netns.layout(tag, netns.choose_subnet(None, 2), workers=1)
    head, worker = info["nodes"]["head"], info["nodes"]["w0"]
    servers, ids = [], set()
    try:
        netns.create(info)
        ids = netns.identities(info)
        assert netns.in_use(tag)  # a second cluster drawing the same tag picks another
        servers = [serve(head["ns"], "127.0.0.1"), serve(head["ns"], head["address"])]
        (_, on_loopback), (_, on_subnet) = servers
        assert reachable(head["ns"], "127.0.0.1", on_loopback)
        assert not reachable(worker["ns"], "127.0.0.1", on_loopback)
        assert not reachable(worker["ns"], head["address"], on_loopback)
        assert not reachable(None, "127.0.0.1", on_loopback)
        assert reachable(worker["ns"], head["address"], on_subnet)
        assert reachable(None, head["address"], on_subnet)  # the host, over its uplink
        assert sorted(netns.pids(info)) == sorted(proc.pid for proc, _ in servers)
    finally:
        processes.stop([proc.pid for proc, _ in servers])
        left = netns.destroy(info)
    assert left == [] and netns.leftovers(info) == [] and len(ids) == 3 and netns.pids(ids) == []
    assert not netns.in_use(tag)
    assert not [ns for ns in netns.namespaces(info) if ns in subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True).stdout]


@needs_netns
def test_down_after_a_failed_up_removes_namespaces_links_and_processes(tmp_path, monkeypatch):
    """`up --netns` failing after the namespaces exist and a process runs in one of them (here:
    Ray refuses to start) leaves nothing behind: `up`'s own `down` stops the process by its PID,
    deletes the namespaces, the uplink, and the bookkeeping."""
    seen = {}

    def failing_ray(state, env, *_):
        seen.update(state)
        seen["proc"] = serve(state["netns"]["nodes"]["w0"]["ns"], "127.0.0.1")[0]
        raise RuntimeError("ray start (worker) failed: injected")

    monkeypatch.setattr(local.ray_nodes, "start", failing_ray)
    with pytest.raises(RuntimeError, match="injected"):
        local.up(str(tmp_path), workers=1, isolate=True)
    info = seen["netns"]
    assert processes.gone(seen["proc"].pid) and netns.leftovers(info) == []
    assert local.read_state(str(tmp_path)) is None
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert f" {info['uplink']}@" not in links and f" {info['uplink']}:" not in links
