"""The local multi-node launcher end to end: up (each node in its own network namespace, PostgreSQL
behind basic auth, Ray behind its token), status, a job without the token refused, a tiny study
through `ray job submit` with it, down."""

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile

import pytest
from mlflow.tracking import MlflowClient

from analysis.schema import Role, Tag, TrialStatus
from cluster import local, netns, postgres, processes
from tests.cluster.ray_access import assert_refused_without_token, insider_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]
UNAVAILABLE = netns.unavailable()

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def submit_tiny_study(state, name, env):
    """`ray job submit` of a 2-trial study (40 steps each) to the cluster with the environment
    ``env`` (which must name the cluster's Ray token); returns the job's output."""
    ray_cli = shutil.which("ray", path=os.path.dirname(sys.executable)) or "ray"
    job = subprocess.run(
        [ray_cli, "job", "submit", "--address", state["dashboard"], "--working-dir", REPO,
         "--runtime-env", os.path.join(REPO, "cluster", "runtime_env.yaml"), "--",
         "python", "-m", "study.run", "--name", name, "--root", os.path.join(state["root"], "runs"),
         "--tracking-uri", state["mlflow"], "--num-trials", "2", "--max-concurrent", "2",
         "--objectives", "recon_error,recon_mse", "--set", "trial.steps=40", "--set", "trial.report_every=20",
         "--set", "trial.checkpoint_every=20", "--set", "trial.metrics=recon", "--set", "trial.eval_size=64",
         "--set", "trial.kl_warmup_steps=0"],
        capture_output=True, text=True, timeout=600, env=env)
    assert job.returncode == 0, job.stdout[-3000:] + job.stderr[-3000:]
    assert f"[betasweep] study {name}: 2 trials" in job.stdout
    return job.stdout + job.stderr


def completed_trials(uri, name):
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("betasweep")
    children = client.search_runs([exp.experiment_id],
                                  f"tags.{Tag.STUDY} = '{name}' and tags.{Tag.ROLE} = '{Role.TRIAL}'")
    assert len(children) == 2 and all(c.data.tags[Tag.TRIAL_STATUS] == TrialStatus.COMPLETED for c in children)
    images = client.list_artifacts(children[0].info.run_id, "images")
    assert len(images) == 3  # uploaded over HTTP to the server's artifact store
    return children


@pytest.mark.skipif(UNAVAILABLE is not None, reason=f"network namespaces unavailable: {UNAVAILABLE}")
def test_up_job_submit_down_with_postgres_behind_auth(monkeypatch):
    """`up --netns --backend postgres --auth` (a head and two workers, each in its own network
    namespace) with the login in the environment: `status` sees every node, every socket of the
    cluster listens inside the namespaces (none on the host's network), a job without the
    Ray token is refused (Jobs API, `ray job submit`, a driver joining the GCS), the study
    submitted from the host with the token but without the MLflow login runs its trials on the
    workers, which reach MLflow on the head's subnet address with the nodes' login, nothing prints
    or records a password, and `down` stops every process it started (none is left listening;
    PostgreSQL by its own fast shutdown, no child of it killed) and deletes the namespaces and the
    token. (The default `up` differs in running every node on the host's own network —
    tests/cluster/test_local_exposure.py checks what that exposes — and in the store URI it gives
    cluster.mlflow_server; tests/cluster/test_faults.py runs studies against a SQLite-backed MLflow
    server; tests/cluster/test_netns.py checks the namespaces' isolation itself.)"""
    from analysis.runs import load_runs

    password = secrets.token_urlsafe(18)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "ci-trials")  # the trials' login; the admin is generated
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
    root = tempfile.mkdtemp(prefix="bsw-pgc-", dir="/tmp")  # reachable by the postgres user
    cli = [sys.executable, "-m", "cluster.local"]
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": REPO}
    env.pop("RAY_ADDRESS", None)
    try:
        up = subprocess.run(cli + ["up", "--root", root, "--workers", "2", "--cpus-per-worker", "1",
                                   "--backend", "postgres", "--auth", "--netns"], capture_output=True, text=True,
                            timeout=400, env=env, cwd=REPO)
        assert up.returncode == 0, up.stdout + up.stderr
        state = local.read_state(root)
        status = subprocess.run(cli + ["status", "--root", root], capture_output=True, text=True, timeout=60,
                                env=env)
        assert "ray nodes alive: 3 (expected 3); mlflow healthy: True" in status.stdout, status.stdout
        assert "namespaces and uplink present: 5 of 5" in status.stdout, status.stdout
        head = state["netns"]["nodes"]["head"]["address"]
        assert state["mlflow"].startswith(f"http://{head}:") and state["gcs_address"].startswith(f"{head}:")
        assert "PostgreSQL on 127.0.0.1" in up.stdout and "MLflow login:   user ci-trials" in up.stdout
        pids, namespaces = local.own_pids(state), netns.identities(state["netns"])
        host_net = os.stat("/proc/self/ns/net").st_ino
        listening = processes.listening(pids)  # read inside the nodes' namespaces
        assert listening and all(os.stat(f"/proc/{pid}/ns/net").st_ino != host_net for pid, _ in listening)
        assert_refused_without_token(state)
        output = up.stdout + up.stderr + submit_tiny_study(state, "pgstudy", insider_env(state))
        children = completed_trials(state["mlflow"], "pgstudy")
        runs = load_runs("pgstudy", tracking_uri=state["mlflow"])
        assert len(runs) == 2
        secrets_now = [password, *postgres.read_passwords(root).values()]
        assert not [s for s in secrets_now if s in output]
        parent = MlflowClient(state["mlflow"]).get_run(children[0].data.tags[Tag.PARENT_RUN])
        for run in [*children, parent]:
            assert password not in json.dumps({**run.data.params, **run.data.tags})
        assert not [s for s in secrets_now if s in open(os.path.join(root, "mlflow-server.log")).read()]
        down = subprocess.run(cli + ["down", "--root", root], capture_output=True, text=True, timeout=120, env=env)
        assert down.returncode == 0 and not [p for p in pids if not processes.gone(p)], down.stdout + down.stderr
        assert processes.listening(pids) == []
        assert not [p for p in processes.in_sessions(state["ray_sessions"]) if not processes.gone(p)]
        assert netns.leftovers(state["netns"]) == [] and netns.pids(namespaces) == []
        assert not os.path.exists(os.path.join(root, "ray-token"))
        pg_log = open(os.path.join(root, postgres.LOG)).read()  # a fast shutdown, no child killed
        assert "terminated by signal" not in pg_log and pg_log.rstrip().endswith("database system is shut down")
    finally:
        if local.read_state(root):
            local.down(root)
        shutil.rmtree(root, ignore_errors=True)
