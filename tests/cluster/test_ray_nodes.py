"""A local cluster's ports: each node's agents get distinct free ports (picked one at a time, the
kernel could hand the same just-released port to two agents, and `ray start` refused the node)."""

import socket

from cluster import ray_nodes


def test_node_ports_are_distinct_free_and_named_by_their_flags(monkeypatch):
    released = iter([50001, 50001, 50002, 50003, 50004, 50005, 50006, 50007])  # what one-at-a-time could give
    monkeypatch.setattr(ray_nodes, "free_port", lambda: next(released))  # no longer how node_ports picks
    args = ray_nodes.node_ports("--ray-client-server-port")
    flags, ports = args[0::2], [int(p) for p in args[1::2]]
    assert flags == ["--dashboard-agent-listen-port", "--dashboard-agent-grpc-port", "--metrics-export-port",
                     "--runtime-env-agent-port", "--node-manager-port", "--object-manager-port",
                     "--ray-client-server-port"]
    assert len(set(ports)) == len(ports) and 50001 not in ports
    for port in ports:  # free: each binds
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_many_draws_never_repeat_a_port_within_one_pick():
    for _ in range(200):
        ports = ray_nodes.free_ports(8)
        assert len(set(ports)) == 8
