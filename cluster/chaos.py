"""The fault schedule of the chaos soak (``benchmarks/chaos_soak.py``) and the faults themselves,
thrown at a ``cluster.local`` cluster and a study driver this process started — each by the PIDs,
sessions and files of that cluster alone, never by a process name.

Faults: a worker node killed (SIGKILL to every process of its ``ray start`` session) and started
again; the MLflow server killed (SIGKILL to its process group) and started again; PostgreSQL
restarted (fast shutdown by its PID, then started on the same port and data dir); the study driver
killed (SIGKILL) and resumed with ``--resume``; a checkpoint torn (its ``state.pt`` truncated to
half). The schedule is bounded: a fixed list of (second, fault), thrown while the study runs.
"""

from __future__ import annotations

import glob
import os
import signal
import time
from dataclasses import dataclass, field

from cluster import local, netns, postgres, processes, ray_nodes

WORKER_KILL, MLFLOW_KILL, POSTGRES_RESTART, DRIVER_KILL, CHECKPOINT_TEAR = (
    "worker node killed", "MLflow server killed", "PostgreSQL restarted", "driver killed", "checkpoint torn")
KINDS = (WORKER_KILL, MLFLOW_KILL, POSTGRES_RESTART, DRIVER_KILL, CHECKPOINT_TEAR)


@dataclass(order=True)
class Fault:
    at: float
    """Seconds after the study started."""
    kind: str = field(compare=False)
    target: str = field(default="", compare=False)


def schedule(duration: float, workers: int, short: bool = False, worker_every: float = 45.0) -> list[Fault]:
    """The faults of a soak of about ``duration`` seconds, in seconds after the study's first
    checkpoint: a worker node (in turn) every ``worker_every`` s, each of the others once, spread
    over the run. ``short``: a tear, one worker, the driver, then MLflow while the resumed driver's
    trials run, early enough for a study of a couple of minutes. (The soak throws a due fault only
    once a trial has checkpointed since the previous one was dealt with: :func:`progressed`.)"""
    if short:
        return sorted([Fault(9, CHECKPOINT_TEAR), Fault(10, WORKER_KILL, "w0"), Fault(25, DRIVER_KILL),
                       Fault(40, MLFLOW_KILL)])
    faults = [Fault(t, WORKER_KILL, f"w{k % workers}")
              for k, t in enumerate(range(int(worker_every), int(duration), int(worker_every)))]
    faults += [Fault(worker_every - 1, CHECKPOINT_TEAR), Fault(0.35 * duration, MLFLOW_KILL),
               Fault(0.5 * duration, DRIVER_KILL), Fault(0.65 * duration, POSTGRES_RESTART)]
    return sorted(faults)


def newest_checkpoint(study_dir: str) -> float:
    """When the study's newest checkpoint was written (0 before the first)."""
    return max((os.path.getmtime(p) for p in glob.glob(os.path.join(study_dir, "tune", "*", "checkpoint_*"))),
               default=0.0)


def progressed(study_dir: str, since: float) -> bool:
    """Has a trial checkpointed after ``since`` (a time.time())? A fault thrown then hits trials that
    are running — not a study still getting over the previous fault (a worker node starting again,
    a resumed driver relaunching its trials), whatever the machine's speed."""
    return newest_checkpoint(study_dir) > since


def _sid_of(state: dict, worker: str, sessions: dict[str, int]) -> int:
    """The session of worker ``wN`` now: its restart's, else the one ``up`` gave it (head first)."""
    return sessions.get(worker, state["ray_sessions"][1 + int(worker[1:])])


def kill_worker(state: dict, worker: str, sessions: dict[str, int]) -> int:
    """SIGKILL every process of worker ``worker``'s Ray session (raylet, agents, trial workers)."""
    pids = processes.in_sessions([_sid_of(state, worker, sessions)])
    processes.stop(pids, signals=(signal.SIGKILL,), grace=10)
    return len(pids)


def restart_worker(state: dict, worker: str, sessions: dict[str, int]) -> None:
    """Start worker ``worker`` again, as a node coming back (recorded for ``down``)."""
    env = local._node_env(state)
    env["MLFLOW_TRACKING_URI"] = state["mlflow"]
    if state.get("auth"):
        from cluster import mlflow_users

        env.update(mlflow_users.login(state["root"], "trials")[0])
    sessions[worker] = ray_nodes.start_worker(state, env, int(worker[1:]), local._save)


def kill_mlflow(state: dict) -> int:
    pids = processes.group_of(state.get("mlflow_pid"))
    processes.stop(pids, signals=(signal.SIGKILL,), grace=10)
    return len(pids)


def restart_mlflow(state: dict, timeout: float = 180) -> None:
    """The MLflow server again on its address (recorded for ``down``), once it answers."""
    with netns.entered(ray_nodes.node(state, "head")[0]):
        server = local.start_mlflow(state, local._node_env(state))
    state["mlflow_pid"] = server.pid
    local._save(state)
    deadline = time.time() + timeout
    while not local.mlflow_healthy(state["mlflow"]):
        if server.poll() is not None or time.time() > deadline:
            raise RuntimeError(processes.died_message("MLflow server", server.poll(),
                                                      os.path.join(state["root"], "mlflow-server.log")))
        time.sleep(1)


def restart_postgres(state: dict) -> None:
    """Fast shutdown of the cluster's PostgreSQL, then the same server again (port, data dir)."""
    info = state["postgres"]
    postgres.stop(info)
    with netns.entered(ray_nodes.node(state, "head")[0]):
        state["postgres"] = postgres.start(state["root"], info["port"])
    local._save(state)


def tear_checkpoint(study_dir: str) -> str | None:
    """Truncate to half the ``state.pt`` of the newest checkpoint of the study; its path, or None."""
    found = glob.glob(os.path.join(study_dir, "tune", "*", "checkpoint_*", "state.pt"))
    if not found:
        return None
    newest = max(found, key=os.path.getmtime)
    os.truncate(newest, os.path.getsize(newest) // 2)
    return newest


def kill_driver(pid: int) -> None:
    processes.stop([pid], signals=(signal.SIGKILL,), grace=10)
