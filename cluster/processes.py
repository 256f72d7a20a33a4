"""Finding and stopping exactly the processes a local cluster started — by temp dir, process group
or PID, never by name (other Ray instances, MLflow servers or PostgreSQL may run on the host)."""

from __future__ import annotations

import os
import signal
import socket
import time


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]


def with_marker(marker: str) -> list[int]:
    """PIDs whose command line mentions ``marker`` (e.g. a cluster's own temp dir)."""
    found = []
    for pid in _pids():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                if marker.encode() in handle.read():
                    found.append(pid)
        except OSError:
            continue
    return found


def program(pid: int) -> str:
    """The base name of ``pid``'s executable as its command line gives it ("raylet",
    "gcs_server", "python", …); "" when it is gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return os.path.basename(handle.read().split(b"\0")[0].decode(errors="replace"))
    except OSError:
        return ""


def group_of(pid: int | None) -> list[int]:
    """The live members of ``pid``'s process group ([] when ``pid`` is gone): a server started
    with its own session (MLflow, PostgreSQL) and every worker it forked."""
    if not pid:
        return []
    try:
        pgid = os.getpgid(pid)
    except OSError:
        return []
    members = []
    for p in _pids():
        try:
            if os.getpgid(p) == pgid:
                members.append(p)
        except OSError:
            continue
    return members


def server_of(pid: int | None) -> list[int]:
    """A server and the processes it forked directly (its ``[pid]`` plus children by parent PID;
    [] when it is gone). PostgreSQL's postmaster puts every child in a session of its own
    (checkpointer, writers, backends), so its process group holds the postmaster alone."""
    if not pid or gone(pid):
        return []
    return [pid] + [p for p in _pids() if (fields := _stat(p)) and fields[1] == str(pid)]  # its parent PID


def in_sessions(sids: list[int]) -> list[int]:
    """The live members of the sessions ``sids`` (each ``ray start`` of a local cluster runs in
    one of its own, and its daemons, agents and workers stay in it). The caller's own session is
    never one of them."""
    wanted = set(sids) - {0, 1, os.getsid(0)}
    found = []
    for pid in _pids():
        try:
            if os.getsid(pid) in wanted:
                found.append(pid)
        except OSError:
            continue
    return found


def _address(field: str) -> str:
    """``0100007F:1F90`` (/proc/net/tcp) → ``127.0.0.1:8080``; IPv6 as ``[::1]:8080``."""
    host, port = field.split(":")
    raw = bytes.fromhex(host)
    if len(raw) == 4:
        return f"{socket.inet_ntoa(raw[::-1])}:{int(port, 16)}"
    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    return f"[{socket.inet_ntop(socket.AF_INET6, raw)}]:{int(port, 16)}"


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    return inodes


def listening(pids: list[int]) -> list[tuple[int, str]]:
    """(pid, address) of every TCP socket in LISTEN state that one of ``pids`` holds, read from
    /proc in each process's own network namespace (so ``--netns`` nodes are seen too)."""
    found = set()
    for pid in pids:
        inodes = _socket_inodes(pid)
        for name in ("tcp", "tcp6"):
            try:
                with open(f"/proc/{pid}/net/{name}") as handle:
                    rows = [line.split() for line in handle.read().splitlines()[1:]]
            except OSError:
                continue
            found.update((pid, _address(row[1])) for row in rows if row[3] == "0A" and row[9] in inodes)  # LISTEN
    return sorted(found)


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name (state, parent PID, …); None when
    ``pid`` is gone. The name is cut at the last ")": it may hold spaces and parentheses itself."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def gone(pid: int) -> bool:
    """Has ``pid`` exited (absent, or a zombie waiting for its parent)?"""
    fields = _stat(pid)
    return fields is None or fields[0] == "Z"


def stop(pids: list[int], signals=(signal.SIGTERM, signal.SIGKILL), grace: float = 10.0) -> None:
    """Send each signal in turn to ``pids``, waiting up to ``grace`` s for them to exit before the next."""
    for sig in signals:
        left = [p for p in pids if not gone(p)]
        if not left:
            return
        for pid in left:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.time() + grace
        while True:
            _reap(left)
            if all(gone(p) for p in left) or time.time() >= deadline:
                break
            time.sleep(0.2)


def _reap(pids: list[int]) -> None:
    """Collect those of ``pids`` that are this process's own exited children (else they stay zombies)."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            continue


#: Hints for a service's last error line: (what the line mentions, the fix).
FIXES = (("flask_wtf", "install the auth extra: pip install -e '.[auth]' (MLflow's basic-auth app needs Flask-WTF)"),
         ("psycopg2", "install the postgres extra: pip install -e '.[postgres]'"),
         ("Address already in use", "another process holds that port; stop it or let the cluster pick another"))


def last_error_line(log_path: str, max_len: int = 300) -> str:
    """The last meaningful line of a service's log: an exception line ("Type: message") if there is
    one, else the last non-blank line that is not a traceback frame; "" if the log is empty/absent."""
    try:
        with open(log_path, errors="replace") as handle:
            lines = [line.rstrip() for line in handle.read().splitlines()[-400:] if line.strip()]
    except OSError:
        return ""
    meaningful = [line for line in lines if not line.startswith((" ", "\t", "Traceback", "During handling"))
                  and not set(line.strip()) <= set("^~ ") and "The above exception" not in line]
    errors = [line for line in meaningful if "Error" in line.split(":", 1)[0] or "Exception" in line.split(":", 1)[0]]
    line = (errors or meaningful or [""])[-1].strip()
    return line if len(line) <= max_len else line[:max_len - 1] + "…"


def died_message(service: str, code: int | None, log_path: str) -> str:
    """One line for a service that exited while starting: its own last error and, if known, the fix."""
    line = last_error_line(log_path)
    fix = next((f for key, f in FIXES if key in line), None)
    return (f"{service} exited{'' if code is None else f' with code {code}'} while starting: "
            f"{line or 'no output'} (log: {log_path})" + (f"; {fix}" if fix else ""))
