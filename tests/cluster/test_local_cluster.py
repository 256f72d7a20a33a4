"""The local multi-node launcher end to end: up, a tiny study through `ray job submit`, down."""

import os
import shutil
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from analysis.schema import Role, Tag, TrialStatus
from cluster import local, processes

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_up_job_submit_down(local_cluster):
    state = local_cluster
    assert local.alive_nodes(state["dashboard"]) == 3 and local.mlflow_healthy(state["mlflow"])
    pids = local.own_pids(state)
    assert pids
    status = subprocess.run([sys.executable, "-m", "cluster.local", "status", "--root", state["root"]],
                            capture_output=True, text=True, timeout=60)
    assert "ray nodes alive: 3 (expected 3); mlflow healthy: True" in status.stdout
    ray_cli = shutil.which("ray", path=os.path.dirname(sys.executable)) or "ray"
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)
    job = subprocess.run(
        [ray_cli, "job", "submit", "--address", state["dashboard"], "--working-dir", REPO,
         "--runtime-env", os.path.join(REPO, "cluster", "runtime_env.yaml"), "--",
         "python", "-m", "study.run", "--name", "jobstudy", "--root", os.path.join(state["root"], "runs"),
         "--tracking-uri", state["mlflow"], "--num-trials", "2", "--max-concurrent", "2",
         "--objectives", "recon_error,blur", "--set", "trial.steps=40", "--set", "trial.report_every=20",
         "--set", "trial.checkpoint_every=20", "--set", "trial.metrics=recon", "--set", "trial.eval_size=64",
         "--set", "trial.kl_warmup_steps=0"],
        capture_output=True, text=True, timeout=600, env=env)
    assert job.returncode == 0, job.stdout[-3000:] + job.stderr[-3000:]
    assert "[betasweep] study jobstudy: 2 trials" in job.stdout
    client = MlflowClient(state["mlflow"])
    exp = client.get_experiment_by_name("betasweep")
    children = client.search_runs([exp.experiment_id],
                                  f"tags.{Tag.STUDY} = 'jobstudy' and tags.{Tag.ROLE} = '{Role.TRIAL}'")
    assert len(children) == 2 and all(c.data.tags[Tag.TRIAL_STATUS] == TrialStatus.COMPLETED for c in children)
    images = client.list_artifacts(children[0].info.run_id, "images")
    assert len(images) == 3  # uploaded over HTTP to the server's artifact store
    local.down(state["root"])
    assert not [p for p in pids if os.path.exists(f"/proc/{p}") and not processes.gone(p)]
    assert local.read_state(state["root"]) is None
