"""MLflow-native records on a real SQLite store: the source, the dataset as a run input, the model as
an MLflow logged model (``mlflow.pytorch.load_model("runs:/<id>/model")``), system metrics on trial
and study runs, and the merged final batch; each also through the offline buffer."""

import json
import os

import mlflow
import numpy as np
import pytest
import torch
from mlflow.tracking import MlflowClient

from analysis.schema import DATASET_CONTEXT, SYSTEM_PREFIX, Artifact, Tag, TrialStatus
from models import build_model, load_model, save_model
from study import tracking
from study.sync import main as sync_main
from study.tracking import buffer
from study.tracking.records import send_logged_model
from tests.study.test_tracking import free_port
from train.data import dsprites

pytestmark = pytest.mark.integration

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def uri(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.2")
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


@pytest.fixture(scope="module")
def data():
    return dsprites()


def a_trial(tracker, data, folder, model_type="beta_vae"):
    """A trial's calls as study.trainable makes them, with a real (untrained) model."""
    tracker.start({"model_type": model_type}, extra_tags=tracking.source_tags(tracking.TRIAL_SOURCE, COMMIT))
    tracker.log_dataset(tracking.dataset_record(data, "dsprites-procedural", None, COMMIT))
    for step in (10, 20):
        tracker.log_metrics({"train/loss": 100.0 / step}, step)
    model = build_model(model_type, 4)
    model_file = folder / "model" / "model.pt"
    model_file.parent.mkdir(parents=True)
    save_model(model, str(model_file))
    tracker.log_artifacts({f"{Artifact.MODEL_DIR}/{Artifact.MODEL_FILE}": str(model_file)})
    path = tracking.save_logged_model(load_model(str(model_file)), str(folder / "logged-model"))
    tracker.log_model(path, tracking.logged_model_params(model), model_type, step=20,
                      tags=tracking.source_tags(tracking.TRIAL_SOURCE, COMMIT))
    tracker.log_final({"recon_error": 1.5, Tag.METRIC_PRESET: "fast", "steps_done": 20.0})
    tracker.log_metrics({"timing/steps_s": 1.0}, 20, final=True)
    tracker.finish(TrialStatus.COMPLETED)
    return model


def check_records(uri, run_id, model):
    client = MlflowClient(uri)
    run = client.get_run(run_id)
    tags = run.data.tags
    assert tags[Tag.SOURCE_COMMIT] == COMMIT and tags[Tag.SOURCE_NAME] == "study/trainable.py"
    assert tags[Tag.SOURCE_TYPE] == "LOCAL"
    # the dataset: a run input with its record name, digest, schema, profile and context
    (given,) = run.inputs.dataset_inputs
    assert given.dataset.name == "dsprites-procedural" and len(given.dataset.digest) == 16
    assert {t.key: t.value for t in given.tags} == {"mlflow.data.context": DATASET_CONTEXT}
    assert json.loads(given.dataset.profile)["factors"]["shape"] == 3
    assert "images" in given.dataset.schema and given.dataset.source_type == "code"
    # system metrics with each curve point and the final scores, at the trial's steps
    for name in ("cpu_utilization_percentage", "system_memory_usage_megabytes", "process_cpu_percentage",
                 "process_rss_megabytes"):
        history = client.get_metric_history(run_id, SYSTEM_PREFIX + name)
        assert sorted(m.step for m in history) == [10, 20, 20], name
    assert run.data.metrics[f"{SYSTEM_PREFIX}process_rss_megabytes"] > 50
    # the logged model: READY, the run's output, loads back as the module with its signature
    (logged,) = client.search_logged_models([run.info.experiment_id], f"source_run_id = '{run_id}'")
    assert logged.name == Artifact.LOGGED_MODEL and str(logged.status) == "READY"
    assert logged.params["model_type"] == model.model_type and logged.tags[Tag.SOURCE_COMMIT] == COMMIT
    assert [o.model_id for o in run.outputs.model_outputs] == [logged.model_id]
    mlflow.set_tracking_uri(uri)
    try:
        back = mlflow.pytorch.load_model(f"runs:/{run_id}/{Artifact.LOGGED_MODEL}")
        info = mlflow.models.get_model_info(f"runs:/{run_id}/{Artifact.LOGGED_MODEL}")
    finally:
        mlflow.set_tracking_uri(None)
    x = torch.rand(3, 1, 64, 64)
    with torch.no_grad():
        assert torch.equal(back.encode(x)[0], model.encode(x)[0]) and back.decode(torch.zeros(2, 4)).shape == (2, 1, 64,
                                                                                                             64)
    signature = info.signature.to_dict()
    assert json.loads(signature["inputs"]) == [{"name": "images", "type": "tensor",
                                                 "tensor-spec": {"dtype": "float32", "shape": [-1, 1, 64, 64]}}]
    assert [o["name"] for o in json.loads(signature["outputs"])] == ["raw", "mu", "logvar", "z"]
    assert info.model_id == logged.model_id and info.run_id == run_id
    # model/model.pt is still the run's artifact that models.load_model reads
    path = client.download_artifacts(run_id, f"{Artifact.MODEL_DIR}/{Artifact.MODEL_FILE}")
    assert type(load_model(path)) is type(model)


def test_a_trial_run_carries_source_dataset_model_and_system_metrics(uri, tmp_path, data):
    parent = tracking.start_study_run(uri, "betasweep", "s", {}, {Tag.DATASET: "dsprites"}, commit=COMMIT)
    assert MlflowClient(uri).get_run(parent).data.tags[Tag.SOURCE_COMMIT] == COMMIT
    t = tracking.TrialTracker(uri, "betasweep", parent, "s", "t1", buffer_dir=str(tmp_path / "buf" / "t1"))
    model = a_trial(t, data, tmp_path / "t1")
    check_records(uri, t.run_id, model)
    assert not os.listdir(tmp_path / "buf" / "t1" / buffer.ARTIFACTS_DIR)  # the buffered copies are gone


def test_the_records_survive_an_outage(uri, tmp_path, monkeypatch, data):
    parent = tracking.start_study_run(uri, "betasweep", "s", {}, {}, commit=COMMIT)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    down = f"http://127.0.0.1:{free_port()}"
    t = tracking.TrialTracker(down, "betasweep", parent, "s", "t2", buffer_dir=str(tmp_path / "study" / "b" / "t2"),
                              finish_wait=1)
    model = a_trial(t, data, tmp_path / "t2")
    assert sync_main([str(tmp_path / "study"), "--tracking-uri", uri]) == 0
    (run,) = MlflowClient(uri).search_runs([MlflowClient(uri).get_run(parent).info.experiment_id],
                                           f"tags.{Tag.TRIAL_ID} = 't2'")
    check_records(uri, run.info.run_id, model)


def test_final_scores_timings_and_status_go_as_one_batch(uri, tmp_path, monkeypatch):
    parent = tracking.start_study_run(uri, "betasweep", "s", {}, {})
    t = tracking.TrialTracker(uri, "betasweep", parent, "s", "t3", buffer_dir=str(tmp_path / "b"),
                              system_metrics=False)
    t.start({"seed": 0})
    t.wait_sent(30)
    batches = []
    original = MlflowClient.log_batch
    monkeypatch.setattr(MlflowClient, "log_batch", lambda self, *a, **k: batches.append(k) or original(self, *a, **k))
    with buffer.locked(t.buffer_dir):  # hold the sender back: the calls pile up as a slow server lets them
        t.log_final({"recon_error": 1.5, Tag.METRIC_PRESET: "fast", "steps_done": 20.0})
        t.log_metrics({"timing/steps_s": 2.0}, 20, final=True)
        t.send("tags", tags={Tag.TRIAL_STATUS: str(TrialStatus.COMPLETED)})  # what finish() sends
        t.send("end", status="FINISHED")
    assert t.wait_sent(30)
    assert len(batches) == 1, batches  # recon_error, steps_done, timing + the tags; then the end
    run = MlflowClient(uri).get_run(t.run_id)
    assert run.data.metrics == {"recon_error": 1.5, "steps_done": 20.0, "timing/steps_s": 2.0}
    assert run.data.tags[Tag.METRIC_PRESET] == "fast" and run.data.tags[Tag.TRIAL_STATUS] == "completed"


def test_merging_keeps_order_runs_and_mlflow_limits():
    def line(op, run="r", **kw):
        return {"op": op, "run_id": run, **kw}

    metrics = [["m", 1.0, 0, 1]]
    lines = [(line("metrics", metrics=metrics * 600), 1), (line("tags", tags={"a": "1"}), 2),
             (line("metrics", metrics=metrics * 600), 3), (line("tags", tags={"a": "2"}), 4), (line("end"), 5)]
    entry, end, count = buffer._merged(lines, None)
    assert (entry["op"], end, count, len(entry["metrics"]), entry["tags"]) == ("batch", 2, 2, 600, {"a": "1"})
    entry, end, count = buffer._merged(lines[2:], None)
    assert (end, count, entry["tags"]) == (4, 2, {"a": "2"})
    assert buffer._merged(lines[4:], None)[0]["op"] == "end"
    other = [(line("tags", tags={"a": "1"}), 1), (line("tags", run="q", tags={"b": "1"}), 2)]
    assert buffer._merged(other, None)[0] == other[0][0]  # another run's entry is not merged
    pending = [(line("metrics", run=None, metrics=metrics), 1), (line("metrics", run=None, metrics=metrics), 2)]
    assert buffer._merged(pending, "created")[0]["run_id"] == "created"


def test_a_retried_model_upload_reuses_the_logged_model(uri, tmp_path):
    parent = tracking.start_study_run(uri, "betasweep", "s", {}, {})
    client = MlflowClient(uri)
    exp = client.get_run(parent).info.experiment_id
    run_id = client.create_run(exp).info.run_id
    model = build_model("ae", 3)
    path = tracking.save_logged_model(model, str(tmp_path / "m"))
    entry = {"name": Artifact.LOGGED_MODEL, "local_path": path, "params": tracking.logged_model_params(model),
             "model_type": "ae", "step": 5}
    first = send_logged_model(client, run_id, exp, entry)
    assert send_logged_model(client, run_id, exp, entry, look_up=True) == first  # the attempt was not confirmed
    assert len(client.search_logged_models([exp])) == 1
    assert [(o.model_id, o.step) for o in client.get_run(run_id).outputs.model_outputs] == [(first, 5)]


def test_the_study_run_gets_the_drivers_system_metrics(uri, monkeypatch):
    parent = tracking.start_study_run(uri, "betasweep", "s", {}, {})
    with tracking.StudySystemMetrics(uri, parent, period=0.3, interval=0.1):
        np.linalg.svd(np.random.default_rng(0).random((300, 300)))
        import time

        time.sleep(1.0)
    history = MlflowClient(uri).get_metric_history(parent, f"{SYSTEM_PREFIX}process_rss_megabytes")
    assert len(history) >= 2 and all(m.value > 50 for m in history)
    monkeypatch.setenv("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "false")
    assert tracking.SystemSampler().take() == {}


def test_the_dataset_digest_follows_the_content(data):
    from train.data import ColorDSprites

    first = tracking.dataset_record(data, "dsprites-procedural")
    assert tracking.dataset_record(dsprites(), "dsprites-procedural")["digest"] == first["digest"]
    color = tracking.dataset_record(ColorDSprites(), "color-dsprites-procedural")
    assert color["digest"] != first["digest"] and json.loads(color["profile"])["image_shape"] == [3, 64, 64]
    official = tracking.dataset_record(data, "dsprites", data_root="/data")
    assert official["source_type"] == "local" and json.loads(official["source"]) == {"uri": "/data"}


def test_a_concurrent_dataset_insert_is_retried_and_a_refused_record_costs_only_itself(caplog):
    from mlflow.exceptions import MlflowException

    from study.tracking.records import send_dataset

    class Client:
        tracking_uri = "http://127.0.0.1:1"

        def __init__(self, errors):
            self.errors, self.calls = list(errors), 0

        def log_inputs(self, run_id, datasets):
            self.calls += 1
            if self.errors:
                raise self.errors.pop(0)

    record = {"name": "d", "digest": "0" * 16, "source_type": "code", "source": "{}"}
    race = MlflowException("BAD_REQUEST: (sqlite3.IntegrityError) UNIQUE constraint failed: datasets.experiment_id")
    client = Client([race])
    send_dataset(client, "r", record)  # the first trial's insert came first: sent again, linked
    assert client.calls == 2
    refused = Client([MlflowException("BAD_REQUEST: something else")] * 3)
    buffer.execute(refused, {"op": "inputs", "run_id": "r", "dataset": record})  # no exception
    assert refused.calls == 1 and "did not take the run's dataset input" in caplog.text
    with pytest.raises(MlflowException):  # a refused login is a configuration error, raised as ever
        buffer.execute(Client([MlflowException("API request failed with error code 403")]),
                       {"op": "inputs", "run_id": "r", "dataset": record})
