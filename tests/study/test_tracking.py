"""MLflow tracking on a real SQLite store: nesting, resume into the same child, secrets, and the
offline buffer replayed by ``study.sync`` with every metric recovered and nothing duplicated."""

import socket

import numpy as np
import pytest
import torch
from mlflow.tracking import MlflowClient

from analysis.images import save_png
from analysis.schema import Artifact, Role, RunState, StudyStatus, Tag, TrialStatus
from study import tracking
from study.sync import main as sync_main

pytestmark = pytest.mark.integration


@pytest.fixture
def uri(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def children(uri, parent):
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("betasweep")
    return client.search_runs([exp.experiment_id], f"tags.mlflow.parentRunId = '{parent}'")


def tracker(uri, parent, trial_id, tmp_path, **kw):
    return tracking.TrialTracker(uri, "betasweep", parent, "s", trial_id,
                                 buffer_dir=str(tmp_path / "buffer" / trial_id), **kw)


def test_parent_and_nested_children(uri, tmp_path):
    parent = tracking.start_study_run(uri, "betasweep", "s", {"trial.lr": 0.001, "name": "s"},
                                      {Tag.DATASET: "dsprites"})
    assert tracking.find_study_run(uri, "betasweep", "s") == parent
    for tid in ("t1", "t2"):
        t = tracker(uri, parent, tid, tmp_path, secrets=("token",))
        run_id = t.start({"model_type": "vae", "latent_dim": 4, "token": "hunter2"}, optuna_trial=3)
        for step in (10, 20):
            t.log_metrics({"train/loss": 100.0 / step, "val_recon_error": 5.0}, step)
        t.log_final({"recon_error": 1.5, Tag.METRIC_PRESET: "fast", "steps_done": 20.0})
        png = tmp_path / tid / "samples.png"
        png.parent.mkdir()
        save_png(np.zeros((8, 8, 3), np.uint8), str(png))
        t.log_artifacts({Artifact.SAMPLES: str(png)})
        t.finish(TrialStatus.COMPLETED)
        run = MlflowClient(uri).get_run(run_id)
        assert run.data.tags[Tag.PARENT_RUN] == parent and run.data.tags[Tag.OPTUNA_TRIAL] == "3"
        assert run.data.params == {"model_type": "vae", "latent_dim": "4"}  # the secret is never logged
        assert run.data.tags[Tag.METRIC_PRESET] == "fast" and run.info.status == RunState.FINISHED
        assert [m.step for m in MlflowClient(uri).get_metric_history(run_id, "train/loss")] == [10, 20]
        assert [a.path for a in MlflowClient(uri).list_artifacts(run_id, Artifact.IMAGES_DIR)] == [Artifact.SAMPLES]
    assert len(children(uri, parent)) == 2
    tracking.set_study_status(uri, parent, StudyStatus.COMPLETED)
    p = MlflowClient(uri).get_run(parent)
    assert p.data.tags[Tag.STUDY_STATUS] == StudyStatus.COMPLETED and p.info.status == RunState.FINISHED
    assert p.data.params["trial.lr"] == "0.001" and p.data.tags[Tag.ROLE] == Role.STUDY


def test_parent_run_records_procedural_dsprites_under_its_own_name(uri):
    # study.run passes the config value (trial.dataset = dsprites) as the dataset tag, and the
    # flattened config as params; the recorded dataset name must mark the procedural look-alike.
    parent = tracking.start_study_run(uri, "betasweep", "s", {"trial.dataset": "dsprites"},
                                      {Tag.DATASET: "dsprites", Tag.PRESET_OBJECTIVES: "recon_error"})
    run = MlflowClient(uri).get_run(parent)
    assert run.data.tags[Tag.DATASET] == "dsprites-procedural"
    assert run.data.params["trial.dataset"] == "dsprites"  # the config value is unchanged
    other = tracking.start_study_run(uri, "betasweep", "c", {}, {Tag.DATASET: "celeba"})
    assert MlflowClient(uri).get_run(other).data.tags[Tag.DATASET] == "celeba"
    official = tracking.start_study_run(uri, "betasweep", "o", {}, {Tag.DATASET: "dsprites"}, data_root="/data")
    assert MlflowClient(uri).get_run(official).data.tags[Tag.DATASET] == "dsprites"  # the official .npz


def test_a_restarted_trial_continues_its_own_child(uri, tmp_path):
    parent = tracking.start_study_run(uri, "betasweep", "s", {}, {})
    first = tracker(uri, parent, "t1", tmp_path)
    run_id = first.start({"seed": 0})
    first.log_metrics({"train/loss": 3.0}, 10)
    first.log_metrics({"train/loss": 2.0}, 20)
    # restart with the id from the checkpoint, and restart before any checkpoint (lookup by trial id)
    for given in (run_id, None):
        again = tracker(uri, parent, "t1", tmp_path, run_id=given)
        assert again.start({"seed": 0}) == run_id
        again.log_metrics({"train/loss": 2.5}, 20)  # re-trained step: not logged twice
        again.log_metrics({"train/loss": 1.0}, 30)
    assert len(children(uri, parent)) == 1
    steps = [m.step for m in MlflowClient(uri).get_metric_history(run_id, "train/loss")]
    # the second restart re-trains step 30 after it was logged: skipped as well
    assert steps == [10, 20, 30]


def test_a_trial_restarted_after_its_final_scores_does_not_log_them_again(uri, tmp_path):
    """A fault after the final batch (an artifact upload, the node) re-runs the final phase."""
    parent = tracking.start_study_run(uri, "betasweep", "s", {}, {})
    first = tracker(uri, parent, "t1", tmp_path, background=False)  # every call sent at once
    run_id = first.start({"seed": 0})
    first.log_metrics({"train/loss": 2.0}, 20)
    first.log_final({"recon_error": 1.5, "steps_done": 20.0})
    first.log_metrics({"timing/steps_s": 1.0}, 20, final=True)
    again = tracker(uri, parent, "t1", tmp_path, run_id=run_id, background=False)
    again.start({"seed": 0})
    again.log_final({"recon_error": 1.5, "steps_done": 20.0})
    again.log_metrics({"timing/steps_s": 1.1}, 20, final=True)
    client = MlflowClient(uri)
    for key in ("recon_error", "steps_done", "timing/steps_s"):
        assert [m.step for m in client.get_metric_history(run_id, key)] == [20], key
    fresh = tracker(uri, parent, "t2", tmp_path, background=False)  # a first attempt always logs its final scores
    fresh_id = fresh.start({"seed": 1})
    fresh.log_final({"recon_error": 2.5, "steps_done": 20.0})
    assert [m.value for m in client.get_metric_history(fresh_id, "recon_error")] == [2.5]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_server_is_buffered_then_synced(uri, tmp_path, monkeypatch, capsys):
    parent = tracking.start_study_run(uri, "betasweep", "s", {}, {})
    down = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    t = tracking.TrialTracker(down, "betasweep", parent, "s", "t9", buffer_dir=str(tmp_path / "study" / "buf" / "t9"))
    assert t.start({"model_type": "ae"}) is None  # no exception: the run creation is buffered
    values = {step: float(np.sin(step)) for step in range(1, 6)}
    for step, v in values.items():
        t.log_metrics({"train/loss": v}, step)
    t.log_final({"recon_error": 7.25, "steps_done": 5.0})
    save_png(np.full((4, 4, 3), 255, np.uint8), str(tmp_path / "recon.png"))
    t.log_artifacts({"images/recon.png": str(tmp_path / "recon.png")})
    t.finish(TrialStatus.COMPLETED)
    # the store is back (here: the study's SQLite store); replay, twice
    assert sync_main([str(tmp_path / "study"), "--tracking-uri", uri]) == 0
    assert sync_main([str(tmp_path / "study"), "--tracking-uri", uri]) == 0
    runs = children(uri, parent)
    assert len(runs) == 1
    run_id = runs[0].info.run_id
    history = MlflowClient(uri).get_metric_history(run_id, "train/loss")
    assert {m.step: m.value for m in history} == values and len(history) == 5
    assert runs[0].data.metrics["recon_error"] == 7.25
    assert runs[0].data.tags[Tag.TRIAL_STATUS] == TrialStatus.COMPLETED and runs[0].info.status == RunState.FINISHED
    assert [a.path for a in MlflowClient(uri).list_artifacts(run_id, "images")] == ["images/recon.png"]
    assert "sent 0" in capsys.readouterr().out.splitlines()[-1]


def test_images_have_the_expected_shapes():
    from analysis.images import reconstruction_grid, sample_grid, traversal_grid
    from models import build_model

    for channels in (1, 3):
        model = build_model("vae", 3, in_channels=channels)
        x = torch.rand(8, channels, 64, 64)
        rec = reconstruction_grid(model, x, n=4)
        assert rec.dtype == np.uint8 and rec.shape == (2 * 66 + 2, 4 * 66 + 2, 3)
        s1, s2 = sample_grid(model, n=9, seed=1), sample_grid(model, n=9, seed=1)
        assert np.array_equal(s1, s2) and s1.shape == (3 * 66 + 2, 3 * 66 + 2, 3)
        trav = traversal_grid(model, x[0], steps=5)
        assert trav.shape == (3 * 66 + 2, 5 * 66 + 2, 3)
        assert model.training


def test_experiment_opens_on_the_runs_table(uri):
    """MLflow ≥ 3 opens an experiment without ``mlflow.experimentKind`` on its GenAI pages: the
    study's experiment carries custom_model_development, also when it existed without the tag."""
    client = MlflowClient(uri)
    tracking.start_study_run(uri, "betasweep", "s", {}, {})
    assert client.get_experiment_by_name("betasweep").tags["mlflow.experimentKind"] == "custom_model_development"
    old = client.create_experiment("older")  # made before the tag existed
    assert "mlflow.experimentKind" not in client.get_experiment(old).tags
    tracking.start_study_run(uri, "older", "s", {}, {})
    assert client.get_experiment(old).tags["mlflow.experimentKind"] == "custom_model_development"
    inferred = client.create_experiment("inferred", tags={"mlflow.experimentKind": "genai_development_inferred"})
    tracking.start_study_run(uri, "inferred", "s", {}, {})
    assert client.get_experiment(inferred).tags["mlflow.experimentKind"] == "custom_model_development"
    chosen = client.create_experiment("chosen", tags={"mlflow.experimentKind": "genai_development"})
    tracking.start_study_run(uri, "chosen", "s", {}, {})  # someone's explicit choice stays
    assert client.get_experiment(chosen).tags["mlflow.experimentKind"] == "genai_development"


def test_a_duplicate_run_left_by_a_given_up_creation_is_removed(uri, tmp_path):
    parent = tracking.start_study_run(uri, "betasweep", "s", {}, {})
    t = tracker(uri, parent, "t1", tmp_path)
    kept = t.start({"seed": 0})
    t.log_metrics({"train/loss": 1.0}, 10)
    t.finish(TrialStatus.COMPLETED)
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("betasweep").experiment_id
    empty = client.create_run(exp, tags={Tag.PARENT_RUN: parent, Tag.TRIAL_ID: "t1"}).info.run_id
    other = tracker(uri, parent, "t2", tmp_path)
    other.start({"seed": 1})
    other.finish(TrialStatus.COMPLETED)
    assert tracking.remove_duplicate_runs(uri, parent) == [empty]
    assert sorted(r.info.run_id for r in children(uri, parent)) == sorted([kept, other.run_id])
