"""`cluster.local up --auth` (SQLite store, one worker) gives the trials a login of their own: the
Ray nodes get it and nothing of the server's (admin, stores); it logs runs and artifacts in the
study experiment but cannot create users, raise itself to admin or delete the experiment (a
duplicate run it cannot delete is taken out of its study instead). The stores, the auth config
and the logins are 0600 under a 0700 root, and the server refuses an oversized upload."""

import os
import shutil
import tempfile

import pytest
import requests
from mlflow.tracking import MlflowClient

from analysis.schema import Tag, TrialStatus
from cluster import local, mlflow_users, processes
from study import tracking

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SERVER_VARS = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_AUTH_ADMIN_USERNAME",
               "MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_TRACKING_URI", "RAY_ADDRESS")


@pytest.fixture(scope="module")
def cluster():
    saved = {k: os.environ.pop(k) for k in SERVER_VARS if k in os.environ}  # both logins generated
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    root = tempfile.mkdtemp(prefix="bsw-lp-", dir="/tmp")
    try:
        state = local.up(root, workers=1, cpus_per_worker=1, backend="sqlite", auth=True)
        yield state, mlflow_users.login(root, "trials")[0], mlflow_users.login(root, "admin")[0]
    finally:
        local.down(root)
        shutil.rmtree(root, ignore_errors=True)
        os.environ.update(saved)


def as_user(monkeypatch, login):
    for key, value in login.items():
        monkeypatch.setenv(key.replace("AUTH_ADMIN", "TRACKING"), value)


def test_files_are_private_and_the_nodes_get_only_the_trials_login(cluster):
    state, trials, admin = cluster
    root = state["root"]
    assert os.stat(root).st_mode & 0o777 == 0o700
    for name in ("mlflow.db", "mlflow-auth.db", "mlflow-auth.ini", "mlflow-auth.env", "mlflow-admin.env"):
        assert os.stat(os.path.join(root, name)).st_mode & 0o777 == 0o600, name
    raylets = [p for p in processes.with_marker(state["temp_dir"])
               if b"raylet" in open(f"/proc/{p}/cmdline", "rb").read().split(b"\0")[0]]
    assert len(raylets) == 2
    for pid in raylets:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            environ = dict(v.split("=", 1) for v in handle.read().decode().split("\0") if "=" in v)
        assert environ["MLFLOW_TRACKING_USERNAME"] == trials["MLFLOW_TRACKING_USERNAME"] == "betasweep"
        assert not [k for k in environ if k.startswith(("MLFLOW_AUTH_", "POSTGRES_"))]
        assert admin["MLFLOW_AUTH_ADMIN_PASSWORD"] not in "".join(environ.values())
    for name in ("local-cluster.json", "mlflow-server.log"):
        assert admin["MLFLOW_AUTH_ADMIN_PASSWORD"] not in open(os.path.join(root, name)).read()
    assert admin["MLFLOW_AUTH_ADMIN_PASSWORD"] not in local.commands(state)


def test_the_trials_login_logs_runs_but_administers_nothing(cluster, monkeypatch):
    from mlflow.server.auth.client import AuthServiceClient

    state, trials, admin = cluster
    uri = state["mlflow"]
    as_user(monkeypatch, trials)
    parent = tracking.start_study_run(uri, "betasweep", "lp", {"beta": 4}, {})
    t = tracking.TrialTracker(uri, "betasweep", parent, "lp", "t1", background=False)
    kept = t.start({"seed": 0})
    t.log_metrics({"train/loss": 1.0}, 10)
    MlflowClient(uri).log_text(kept, "hello", "notes/a.txt")
    t.finish(TrialStatus.COMPLETED)
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("betasweep").experiment_id
    assert client.get_run(kept).data.metrics["train/loss"] == 1.0
    for refused in (lambda: AuthServiceClient(uri).create_user("intruder", "intruder-password-1"),
                    lambda: AuthServiceClient(uri).update_user_admin("betasweep", True),
                    lambda: client.delete_experiment(experiment)):
        with pytest.raises(Exception, match="403"):
            refused()
    # a duplicate child (a creation the client gave up on) leaves the study without a delete right
    duplicate = client.create_run(experiment, tags={Tag.PARENT_RUN: parent, Tag.TRIAL_ID: "t1", Tag.STUDY: "lp"})
    assert tracking.remove_duplicate_runs(uri, parent) == [duplicate.info.run_id]
    left = client.get_run(duplicate.info.run_id)
    assert left.data.tags[Tag.DUPLICATE_OF] == kept and Tag.PARENT_RUN not in left.data.tags
    assert tracking.close_abandoned(uri, parent) == []
    as_user(monkeypatch, admin)  # the refusals above were the user's rights, not the server's
    assert AuthServiceClient(uri).get_user("betasweep").is_admin is False


def test_the_trials_login_records_a_dataset_a_logged_model_and_system_metrics(cluster, monkeypatch, tmp_path):
    """What a trial run carries in MLflow's own form needs no right beyond the trials' login."""
    from tests.study.test_tracking_records import COMMIT, a_trial, check_records
    from train.data import dsprites

    state, trials, _ = cluster
    uri = state["mlflow"]
    as_user(monkeypatch, trials)
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.2")
    parent = tracking.start_study_run(uri, "betasweep", "lp-records", {}, {}, commit=COMMIT)
    t = tracking.TrialTracker(uri, "betasweep", parent, "lp-records", "t1", buffer_dir=str(tmp_path / "buf"))
    model = a_trial(t, dsprites(), tmp_path / "t1")
    check_records(uri, t.run_id, model)


def test_a_changed_password_is_refused_at_once_though_logins_are_cached(cluster, monkeypatch):
    """The server trusts a verified login for a minute (cluster.mlflow_server --auth-cache-seconds):
    a password changed through the API is dropped from the cache of the process that served the
    change — the only one here (SQLite: one server process) — so the old one is refused at once."""
    from mlflow.server.auth.client import AuthServiceClient

    state, _, admin = cluster
    assert "auth_cache_ttl_seconds = 60" in open(os.path.join(state["root"], "mlflow-auth.ini")).read()
    url = f"{state['mlflow']}/api/2.0/mlflow/experiments/get-by-name"
    old, new = "first-password-" + os.urandom(6).hex(), "second-password-" + os.urandom(6).hex()
    as_user(monkeypatch, admin)
    AuthServiceClient(state["mlflow"]).create_user("rotating", old)

    def status(password):
        return requests.get(url, auth=("rotating", password), params={"experiment_name": "betasweep"},
                            timeout=30).status_code

    assert [status(old), status(old)] == [200, 200]  # verified, then from the cache
    AuthServiceClient(state["mlflow"]).update_user_password("rotating", new)
    assert (status(old), status(new)) == (401, 200)
    AuthServiceClient(state["mlflow"]).delete_user("rotating")
    assert status(new) == 401


def test_an_oversized_upload_is_refused(cluster):
    state, trials, _ = cluster
    auth = (trials["MLFLOW_TRACKING_USERNAME"], trials["MLFLOW_TRACKING_PASSWORD"])
    found = requests.get(f"{state['mlflow']}/api/2.0/mlflow/experiments/get-by-name", auth=auth, timeout=30,
                         params={"experiment_name": "betasweep"})
    experiment = found.json()["experiment"]["experiment_id"]
    url = f"{state['mlflow']}/api/2.0/mlflow-artifacts/artifacts/{experiment}/probe/"
    big = requests.put(url + "big.bin", data=b"\0" * (64 * 1024 * 1024), auth=auth, timeout=60)
    assert big.status_code == 413, big.text[:200]
    chunked = requests.put(url + "chunked.bin", data=(b"\0" * 2**20 for _ in range(40)), auth=auth, timeout=60)
    assert chunked.status_code == 413
    assert requests.put(url + "small.bin", data=b"\0" * 1024, auth=auth, timeout=60).status_code == 200
    stored = os.path.join(state["root"], "mlartifacts", experiment, "probe")
    assert sorted(os.listdir(stored)) == ["small.bin"]


def test_the_soak_reads_every_metric_point_through_the_bulk_route_with_the_trials_login(cluster, monkeypatch):
    """The chaos soak's curve invariant reads the histories one request per metric for all runs
    (MLflow's bulk route, behind basic auth): the very points the client's per-run history gives,
    a point logged twice found, a report step missing counted lost."""
    from mlflow.entities import Metric

    from analysis.schema import Role
    from cluster import invariants

    state, trials, _ = cluster
    uri = state["mlflow"]
    as_user(monkeypatch, trials)
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("betasweep").experiment_id
    ids = []
    for trial in ("t1", "t2"):
        run = client.create_run(experiment, tags={Tag.STUDY: "lp-points", Tag.ROLE: str(Role.TRIAL),
                                                  Tag.TRIAL_ID: trial, Tag.TRIAL_STATUS: str(TrialStatus.COMPLETED)})
        ids.append(run.info.run_id)
        points = [Metric(key, value, 1000 * step, step) for step in (20, 40, 60)
                  for key, value in (("train/loss", 1.0 / step), ("recon_mse", 0.5))]
        if trial == "t1":
            points.append(Metric("train/loss", 9.0, 1000 * 40 + 1, 40))  # t1's step 40 twice
        client.log_batch(run.info.run_id, metrics=points)
    runs = invariants.study_runs(uri, "lp-points")
    assert sorted(r.info.run_id for r in runs) == sorted(ids)
    bulk = invariants._histories(uri, runs)
    per_run = {(r.info.run_id, key): client.get_metric_history(r.info.run_id, key) for r in runs
               for key in r.data.metrics}
    assert bulk.keys() == per_run.keys()
    for where, history in per_run.items():
        assert sorted((m.step, m.timestamp, m.value) for m in bulk[where]) == sorted(
            (m.step, m.timestamp, m.value) for m in history), where
    check = invariants.curve_points(uri, runs, 60, 20)
    assert not check.ok and check.lost == 0 and "t1 train/loss steps [40]" in check.detail, check
    assert check.records == sum(len(h) for h in per_run.values()) == 13
    assert invariants.curve_points(uri, runs, 80, 20).lost == 2  # step 80 missing on both completed trials
