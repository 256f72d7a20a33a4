"""A study survives a lost worker node and an MLflow server that goes away for a while."""

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from analysis.schema import Tag, TrialStatus
from study.config import make_config
from study.driver import run_study
from study.tracking.buffer import pending
from tests.study.conftest import TINY_TRIAL, child_runs, optuna_trials

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def study_config(root, name, **trial):
    return make_config("quick", overrides={
        "name": name, "root": str(root), "trial": {**TINY_TRIAL, "metrics": "recon", "kl_warmup_steps": 0, **trial},
        "search": {"num_trials": 3, "objectives": ["recon_error", "recon_mse"], "sampler": "random"},
        "resources": {"max_concurrent": 2, "max_failures": 3, "reuse_actors": False}})


def in_thread(fn, *args):
    box = {}

    def target():
        try:
            box["result"] = fn(*args)
        except BaseException as exc:  # surfaced by the test
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, box


def checkpoints(root, name):
    return list((root / name / "tune").glob("*/checkpoint_*"))


def test_worker_node_killed_mid_study(isolated_env, monkeypatch):
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    nodes = [cluster.add_node(num_cpus=1), cluster.add_node(num_cpus=1)]
    cluster.wait_for_nodes()
    monkeypatch.setenv("RAY_ADDRESS", cluster.address)
    root = isolated_env / "runs"
    cfg = study_config(root, "nodes", steps=120, report_every=20, checkpoint_every=20)
    try:
        thread, box = in_thread(run_study, cfg)
        deadline = time.time() + 300
        while time.time() < deadline and len(checkpoints(root, "nodes")) < 2:
            time.sleep(1)
        assert checkpoints(root, "nodes"), "no trial checkpointed in time"
        cluster.remove_node(nodes[1], allow_graceful=False)  # lose a worker with its running trial
        cluster.add_node(num_cpus=1)  # capacity comes back, as an autoscaler would bring it
        thread.join(timeout=600)
        assert not thread.is_alive() and "error" not in box, box.get("error")
    finally:
        import ray

        ray.shutdown()
        cluster.shutdown()
    uri = box["result"]["tracking_uri"]
    children = [c for c in child_runs(uri, "nodes") if c.data.tags[Tag.TRIAL_STATUS] != TrialStatus.ABANDONED]
    assert len(children) == 3 and len({c.data.tags[Tag.TRIAL_ID] for c in children}) == 3
    assert all(c.data.tags[Tag.TRIAL_STATUS] == TrialStatus.COMPLETED for c in children)
    assert any(int(c.data.tags.get(Tag.ATTEMPTS, "1")) > 1 for c in children)  # one resumed elsewhere
    complete = [t for t in optuna_trials(root, "nodes") if t.state == TrialState.COMPLETE]
    assert len(complete) == 3
    client = MlflowClient(uri)
    for c in children:
        steps = [m.step for m in client.get_metric_history(c.info.run_id, "train/loss")]
        assert sorted(steps) == list(range(20, 121, 20)), steps  # every point once, none lost


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(root, port):
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{root / 'server.db'}", "--artifacts-destination", str(root / "art")],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
                if resp.status == 200:
                    return proc
        except Exception:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("mlflow server did not start")


def stop_server(proc):
    os.killpg(proc.pid, 15)
    proc.wait(timeout=30)


def test_tracking_server_outage_loses_no_metric(isolated_env, monkeypatch):
    root = isolated_env
    port = free_port()
    server = start_server(root, port)
    uri = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    cfg = make_config("quick", overrides={
        "name": "outage", "root": str(root / "runs"), "tracking_uri": uri,
        "trial": {**TINY_TRIAL, "metrics": "recon", "kl_warmup_steps": 0, "steps": 160, "report_every": 20},
        "search": {"num_trials": 2, "objectives": ["recon_error", "recon_mse"], "sampler": "random"},
        "resources": {"max_concurrent": 2}})
    thread, box = in_thread(run_study, cfg)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and len(child_runs(uri, "outage")) < 2:
            time.sleep(0.5)
        stop_server(server)  # the server goes away while both trials train...
        buffer_dir = root / "runs" / "outage" / "tracking-buffer"
        deadline = time.time() + 300  # ...until both hold calls it could not take (every call is
        while time.time() < deadline and thread.is_alive() and not (  # buffered first: unsent ones)
                len(dirs := list(buffer_dir.glob("*/"))) == 2 and all(pending(str(d)) for d in dirs)):
            time.sleep(0.5)
        server = start_server(root, port)  # and comes back on the same address
        thread.join(timeout=600)
        assert not thread.is_alive() and "error" not in box, box.get("error")
    finally:
        if server.poll() is None:
            stop_server(server)
    buffers = list((root / "runs" / "outage" / "tracking-buffer").glob("*/buffer.jsonl"))
    assert buffers, "the outage was not hit: nothing was buffered"
    server = start_server(root, port)
    try:
        children = child_runs(uri, "outage")
        assert len(children) == 2 and all(c.data.tags[Tag.TRIAL_STATUS] == TrialStatus.COMPLETED for c in children)
        client = MlflowClient(uri)
        for c in children:
            steps = [m.step for m in client.get_metric_history(c.info.run_id, "train/loss")]
            assert sorted(steps) == list(range(20, 161, 20)), steps
            assert "recon_error" in c.data.metrics
    finally:
        stop_server(server)
