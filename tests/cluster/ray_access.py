"""Probes of a running `cluster.local` cluster from the outside, as someone without its Ray token
would try it: the Jobs API over HTTP, `ray job submit`, a driver joining the GCS. Shared by the
local-cluster tests (cluster/SECURITY.md names them)."""

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request

from cluster import ray_nodes

RAY = shutil.which("ray", path=os.path.dirname(sys.executable)) or "ray"


def outsider_env(mode="disabled"):
    """The caller's environment with no Ray token anywhere (nor a cluster address, nor MLflow login)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_AUTH", "RAY_ADDRESS", "MLFLOW_TRACKING_"))}
    env["RAY_AUTH_MODE"] = mode
    return env


def insider_env(state):
    """An environment with this cluster's token (what `up` prints to export), and no MLflow login."""
    return {**outsider_env(), **ray_nodes.client_env(state)}


def jobs_api_status(state, headers):
    """HTTP status of a job submission to the dashboard's Jobs API with ``headers``."""
    request = urllib.request.Request(f"{state['dashboard']}/api/jobs/", method="POST",
                                     data=json.dumps({"entrypoint": "id"}).encode(),
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=20) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def jobs_seen(state):
    """Every job the cluster has, listed with the token."""
    request = urllib.request.Request(f"{state['dashboard']}/api/jobs/", headers=ray_nodes.auth_header(state))
    with urllib.request.urlopen(request, timeout=20) as resp:
        return json.load(resp)


def assert_refused_without_token(state, gcs=True):
    """Without the token nothing gets in: the Jobs API answers 401 (403 to a wrong token), `ray job
    submit` fails on it — with token mode off or on —, a driver is refused by the GCS (``gcs``), and
    no job was created."""
    assert jobs_api_status(state, {}) == 401
    assert jobs_api_status(state, {"Authorization": "Bearer " + "0" * 64}) == 403
    for env in (outsider_env("disabled"), outsider_env("token")):
        job = subprocess.run([RAY, "job", "submit", "--address", state["dashboard"], "--no-wait", "--", "id"],
                             capture_output=True, text=True, timeout=120, env=env)
        assert job.returncode != 0 and "authentication" in (job.stdout + job.stderr).lower(), job.stderr[-2000:]
    if gcs:
        join = subprocess.run([sys.executable, "-c", f"import ray; ray.init(address={state['gcs_address']!r})"],
                              capture_output=True, text=True, timeout=180, env=outsider_env())
        assert join.returncode != 0 and "InvalidAuthToken" in join.stderr, join.stderr[-2000:]
    assert jobs_seen(state) == []
