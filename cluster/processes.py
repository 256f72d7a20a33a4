"""Finding and stopping exactly the processes a local cluster started — by temp dir, process group
or PID, never by name (other Ray instances, MLflow servers or PostgreSQL may run on the host)."""

from __future__ import annotations

import os
import signal
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


def gone(pid: int) -> bool:
    """Has ``pid`` exited (absent, or a zombie waiting for its parent)?"""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ")[1].startswith("Z")
    except OSError:
        return True


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
