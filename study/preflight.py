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


def check_dataset(config: StudyConfig) -> None:
    """Open the dataset the trials will train on and read one batch, on the driver, before Ray
    starts: a missing or wrong file is refused now, naming the folder, what is missing and the fix
    (the dataset's own error), not as every trial's crash. Generated datasets need no check."""
    trial = config.trial
    from train.data import needs_files

    if not needs_files(trial.dataset, trial.data_root):
        return
    import torch

    from train.data import get_dataset

    try:
        data = get_dataset(trial.dataset, root=trial.data_root, device="cpu")
        data.train_batch(2, torch.Generator().manual_seed(0))
    except ValueError as exc:  # DatasetNotFoundError, DatasetFileError: they name files and the fix
        message = str(exc)
        raise ConfigError(message if message.startswith("data_root") else f"data_root: {message}") from None
    except (OSError, RuntimeError, KeyError, IndexError) as exc:
        raise ConfigError(f"data_root: {trial.dataset} under {trial.data_root!r} could not be read "
                          f"({type(exc).__name__}: {exc}); check the files are the official release, "
                          f"complete, and readable") from None


def check_tracking(tracking_uri: str, wait: float, interval: float = 2.0) -> None:
    """An MLflow server that does not answer is waited for up to ``wait`` seconds (with a line saying
    so), then refused in one line naming the URI and the fix; a refused login (HTTP 401/403) is
    refused at once. Local stores (SQLite, files) need no check."""
    from analysis.redaction import redact_uri
    from study.tracking.client import mlflow_client

    if not tracking_uri.startswith(("http://", "https://")):
        return
    pool = logging.getLogger("urllib3.connectionpool")  # no "Retrying (...)" line per attempt
    level = pool.level
    pool.setLevel(logging.ERROR)
    try:
        _wait_for_tracking(mlflow_client(tracking_uri), redact_uri(tracking_uri), wait, interval)
    finally:
        pool.setLevel(level)


def _wait_for_tracking(client, shown: str, wait: float, interval: float) -> None:
    import time

    from study.tracking.client import refused, unreachable

    deadline, said = time.monotonic() + wait, False
    while True:
        try:
            client.search_experiments(max_results=1)
            return
        except Exception as exc:
            if refused(exc):
                raise ConfigError(f"tracking: MLflow at {shown} refused the login ({_http_code(exc)}); set "
                                  f"MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD to an account of that "
                                  f"server") from None
            if not unreachable(exc):
                raise ConfigError(f"tracking: MLflow at {shown} answered with an error "
                                  f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); is it an "
                                  f"MLflow tracking server?") from None
        if time.monotonic() >= deadline:
            raise ConfigError(f"tracking: MLflow at {shown} did not answer within {wait:g}s "
                              f"(tracking_start_wait); start the server (e.g. python -m cluster.local up) "
                              f"or give the right --tracking-uri / $MLFLOW_TRACKING_URI")
        if not said:
            print(f"[betasweep] MLflow at {shown} does not answer; waiting up to {wait:g}s for it "
                  f"(tracking_start_wait)", flush=True)
            said = True
        time.sleep(max(0.0, min(interval, deadline - time.monotonic())))


def _http_code(exc: BaseException) -> str:
    import re

    found = re.search(r"error code (40[13])\b", str(exc))
    return f"HTTP {found.group(1)}" if found else "HTTP 401/403"
