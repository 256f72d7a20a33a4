"""Before any trial: a quiet console, a Ray connection, and the checks that a cluster can run the
study (every node can write the study root; resources are checked in :mod:`study.config`)."""

from __future__ import annotations

import logging
import os

from study.config import ConfigError, StudyConfig


def quiet_console() -> None:
    """The driver prints the study's own lines only: no Tune banner or status tables (its legacy
    reporter at verbose=0 is silent), no INFO chatter from Ray's, MLflow's or alembic's loggers (a
    new SQLite store's table creation), no MLflow download progress bars; Ray stays usable without
    a token (``RAY_AUTH_MODE``). Each is a default the user can override from the environment."""
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # no "Creating initial MLflow database tables"
    for name in ("ray", "ray.tune", "ray.train", "mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def ensure_ray(config: StudyConfig) -> None:
    """Join the cluster (``--address``/``$RAY_ADDRESS``) or start a local Ray instance."""
    import ray

    if ray.is_initialized():
        return
    address = config.address or os.environ.get("RAY_ADDRESS")
    # Trial processes' own output (Ray's checkpoint notices, library warnings) stays in Ray's log
    # files; the driver prints the study's progress lines, and a failing trial's error reaches it
    # through Tune.
    if address and address != "local":
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    else:
        ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)


def _probe_storage(root: str) -> str | None:
    """On one node: can this node create and write files under the study root? None if yes."""
    import socket
    import uuid

    try:
        os.makedirs(root, exist_ok=True)
        probe = os.path.join(root, f".probe-{socket.gethostname()}-{uuid.uuid4().hex[:8]}")
        with open(probe, "w") as handle:
            handle.write("ok")
        os.remove(probe)
        return None
    except OSError as exc:
        return f"{type(exc).__name__}: {exc.strerror or exc}"


def check_storage_reachable(root: str) -> None:
    """Refuse a study root that some alive Ray node cannot write (e.g. a node-local path on a
    multi-node cluster, where a trial restarted elsewhere could not find its checkpoints)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    probe = ray.remote(num_cpus=0)(_probe_storage)
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    refs = [probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote(root)
            for n in nodes]
    for node, error in zip(nodes, ray.get(refs, timeout=120), strict=True):
        if error:
            raise ConfigError(
                f"root: {root!r} is not writable from Ray node {node['NodeManagerAddress']} "
                f"({error}); use a folder every node mounts at the same path (NFS/EFS or an "
                f"S3-backed mount), e.g. --root /mnt/shared/betasweep-runs")
