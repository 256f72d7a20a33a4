"""Linux network namespaces for ``cluster.local up --netns``: every node of the local cluster on a
network of its own, so that a service bound to 127.0.0.1 on the head is out of the workers' reach
exactly as on a real cluster (where sharing one loopback would hide that bug).

Layout for a cluster tagged ``T`` on the subnet ``S`` (a /24 by default):

* a namespace per node, ``bswT-head`` and ``bswT-w0``, ``bswT-w1``…, each with ``lo`` up (Ray
  talks to itself over it) and one interface ``eth0`` holding the node's address (head ``S.2``,
  worker i ``S.(3+i)``); no default route, so nothing leaves the subnet;
* a switch namespace ``bswT-sw`` holding the bridge ``br0`` that all the nodes' veth pairs plug
  into. The bridge lives in a namespace of its own, not on the host, so the host's packet filter
  never sees the bridged traffic (with ``br_netfilter`` loaded, a host firewall whose FORWARD
  policy is DROP, as Docker sets it, would silently cut the nodes apart);
* one more veth pair from the host (``bswT``, address ``S.1``) into that bridge: the host is a
  client on the cluster network, like a login node, so ``ray job submit``, the MLflow UI and the
  tests reach the head's subnet address directly and need neither root nor ``ip netns exec``.
  It is the only trace on the host; the host's loopback stays out of the nodes' reach.

Deleting the namespaces deletes every veth pair and the bridge with them, once no process is left
in them: :func:`destroy` runs after the cluster's processes are stopped, and is safe to call on a
half-built layout (``up`` records it before building it).
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import os
import subprocess
import time

#: Where the default subnets come from: one free /24 of it per cluster (``--subnet`` overrides).
POOL = ipaddress.ip_network("10.213.0.0/16")
_CLONE_NEWNET = 0x40000000


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and out.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {out.stderr.strip()}")
    return out


def unavailable() -> str | None:
    """Why namespaces cannot be used here (not root, no ``ip``, the kernel refuses), or None."""
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add)"
    probe = f"bsw-probe-{os.getpid()}"
    try:
        made = _ip("netns", "add", probe, check=False)
    except OSError:
        return "the ip command (iproute2) is missing"
    if made.returncode != 0:
        return f"ip netns add failed: {made.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


def host_networks() -> list[ipaddress.IPv4Network]:
    """Every IPv4 network the host has an address in or a route to (any routing table)."""
    found = []
    for line in _ip("-4", "-o", "addr", "show").stdout.splitlines():
        found.append(ipaddress.ip_interface(line.split()[3]).network)
    for line in _ip("-4", "route", "show", "table", "all").stdout.splitlines():
        words = line.split()  # "10.0.0.0/8 dev …", or a type first: "local 127.0.0.1 …", "blackhole …"
        dest = words[0] if words[0][0].isdigit() or words[0] == "default" else words[1]
        if dest[0].isdigit():
            found.append(ipaddress.ip_network(dest, strict=False))
    return found


def choose_subnet(requested: str | None, nodes: int) -> ipaddress.IPv4Network:
    """``requested`` (checked), else the first /24 of :data:`POOL` that overlaps nothing the host
    routes: a subnet the host already reaches would be shadowed, or shadow ours."""
    taken = host_networks()
    candidates = [ipaddress.ip_network(requested)] if requested else POOL.subnets(new_prefix=24)
    for net in candidates:
        if net.version != 4 or net.num_addresses < nodes + 4:
            raise RuntimeError(f"subnet {net} cannot hold the host, {nodes} nodes and a broadcast address")
        clash = [t for t in taken if t.overlaps(net) and t.prefixlen > 0]
        if not clash:
            return net
        if requested:
            raise RuntimeError(f"subnet {net} overlaps {clash[0]}, which the host already uses; pick another")
    raise RuntimeError(f"no free /24 left in {POOL}; pass --subnet")


def in_use(tag: str) -> bool:
    """Does a namespace or link of a cluster tagged ``tag`` exist already? (A port free on the host
    may be taken inside another cluster's namespaces, so the tag alone does not prove it new.)"""
    prefix = f"bsw{tag}-"
    if any(name.startswith(prefix) for name in _ip("netns", "list").stdout.split()):
        return True
    return _ip("link", "show", "dev", f"bsw{tag}", check=False).returncode == 0


def layout(tag: str, subnet: ipaddress.IPv4Network, workers: int) -> dict:
    """The names and addresses of a cluster's namespaces (nothing is created yet)."""
    hosts = list(subnet.hosts())
    nodes = {"head": {"ns": f"bsw{tag}-head", "address": str(hosts[1])}}
    for i in range(workers):
        nodes[f"w{i}"] = {"ns": f"bsw{tag}-w{i}", "address": str(hosts[2 + i])}
    return {"subnet": str(subnet), "switch": f"bsw{tag}-sw", "uplink": f"bsw{tag}",
            "host_address": str(hosts[0]), "nodes": nodes}


def create(info: dict) -> None:
    """Build the layout of :func:`layout`: the switch, one namespace per node, the host's uplink."""
    prefix, switch = ipaddress.ip_network(info["subnet"]).prefixlen, info["switch"]
    _ip("netns", "add", switch)
    _ip("-n", switch, "link", "add", "br0", "type", "bridge")
    _ip("-n", switch, "link", "set", "br0", "up")
    for name, node in info["nodes"].items():
        _ip("netns", "add", node["ns"])
        _ip("-n", switch, "link", "add", name, "type", "veth", "peer", "name", "eth0", "netns", node["ns"])
        _ip("-n", switch, "link", "set", name, "master", "br0", "up")
        _ip("-n", node["ns"], "addr", "add", f"{node['address']}/{prefix}", "dev", "eth0")
        _ip("-n", node["ns"], "link", "set", "eth0", "up")
        _ip("-n", node["ns"], "link", "set", "lo", "up")
    _ip("link", "add", info["uplink"], "type", "veth", "peer", "name", "uplink", "netns", switch)
    _ip("-n", switch, "link", "set", "uplink", "master", "br0", "up")
    _ip("addr", "add", f"{info['host_address']}/{prefix}", "dev", info["uplink"])
    _ip("link", "set", info["uplink"], "up")


def describe(info: dict) -> str:
    """Where the nodes are and how to get a shell on one, for ``cluster.local``'s printout."""
    nodes = ", ".join(f"{node['ns']} {node['address']}" for node in info["nodes"].values())
    return (f"Namespaces:     {nodes} on {info['subnet']}; this host is {info['host_address']} ({info['uplink']})\n"
            f"                a shell on a node: ip netns exec {info['nodes']['head']['ns']} bash")


def namespaces(info: dict) -> list[str]:
    return [info["switch"], *(node["ns"] for node in info["nodes"].values())]


def leftovers(info: dict) -> list[str]:
    """What of this layout still exists on the host: namespaces (by name) and the uplink."""
    present = set(_ip("netns", "list").stdout.split())
    left = [ns for ns in namespaces(info) if ns in present]
    if _ip("link", "show", "dev", info["uplink"], check=False).returncode == 0:
        left.append(f"link {info['uplink']}")
    return left


def identities(info: dict) -> set[tuple[int, int]]:
    """(device, inode) of each of this layout's namespaces that still has a name."""
    ids = set()
    for ns in namespaces(info):
        with contextlib.suppress(OSError):
            st = os.stat(f"/run/netns/{ns}")
            ids.add((st.st_dev, st.st_ino))
    return ids


def pids(info_or_ids: dict | set) -> list[int]:
    """Processes living in this layout's namespaces (or in the namespaces of :func:`identities`,
    taken before the names were deleted), whatever started them: recognised by the namespace
    itself, not by name — what must stop before the namespaces go."""
    ids = identities(info_or_ids) if isinstance(info_or_ids, dict) else info_or_ids
    found = []
    for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
        with contextlib.suppress(OSError):
            st = os.stat(f"/proc/{pid}/ns/net")
            if (st.st_dev, st.st_ino) in ids:
                found.append(pid)
    return found


def destroy(info: dict) -> list[str]:
    """Delete this layout's namespaces (their veths and the bridge go with them) and the uplink,
    whatever part of it exists; returns what could not be removed."""
    for ns in namespaces(info):
        _ip("netns", "del", ns, check=False)
    _ip("link", "del", "dev", info["uplink"], check=False)
    deadline = time.time() + 10  # the kernel frees a namespace's devices asynchronously
    while leftovers(info) and time.time() < deadline:
        time.sleep(0.2)
    return leftovers(info)


@contextlib.contextmanager
def entered(ns: str | None):
    """Run the body — and every process it starts — in network namespace ``ns`` (None: stay).

    ``setns`` moves only the calling thread, and children inherit its namespace, so servers and
    ``ray start`` launched inside the block live on that node's network, and a client socket opened
    in it (PostgreSQL's readiness check) sees that node's loopback. The thread returns after."""
    if ns is None:
        yield
        return
    libc = ctypes.CDLL(None, use_errno=True)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        if libc.setns(target, _CLONE_NEWNET) != 0:
            raise RuntimeError(f"setns into {ns} failed: {os.strerror(ctypes.get_errno())}")
        try:
            yield
        finally:
            if libc.setns(home, _CLONE_NEWNET) != 0:
                raise RuntimeError(f"could not return from {ns}: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(target)
        os.close(home)
