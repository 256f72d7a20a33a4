"""The study end to end on a real local Ray and a real SQLite MLflow store, with tiny budgets."""

import os
import signal
import subprocess
import sys
import time

import pytest
from optuna.exceptions import StorageInternalError
from optuna.trial import TrialState
from sqlalchemy.exc import SQLAlchemyError

from analysis.schema import StudyStatus, Tag, TrialStatus
from study.config import make_config
from study.driver import run_study
from study.run import main
from tests.study.conftest import TINY_TRIAL, child_runs, optuna_trials, parent_runs
from train.steps import FORCE_NAN_ENV

pytestmark = pytest.mark.integration

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def config(root, name, **sections):
    overrides = {"name": name, "root": str(root), "trial": dict(TINY_TRIAL)}
    for key, value in sections.items():
        overrides[key] = {**overrides.get(key, {}), **value}
    return make_config("quick", overrides=overrides)


def test_grid_study_with_a_diverging_trial(isolated_env, monkeypatch):
    grid = [{"model_type": "ae"}, {"model_type": "vae"}, {"model_type": "beta_vae", "beta": 4.0},
            {"model_type": "beta_tcvae", "beta": 6.0}, {"model_type": "vae", "kl_warmup_steps": 10}]
    monkeypatch.setenv(FORCE_NAN_ENV, "10:model_type=vae,kl_warmup_steps=10")  # the Ray workers inherit it
    cfg = config(isolated_env / "runs", "grid", space={"mode": "grid", "grid": grid})
    summary = run_study(cfg)
    uri = summary["tracking_uri"]
    assert uri == f"sqlite:///{isolated_env / 'runs' / 'mlflow.db'}"

    parents = parent_runs(uri, "grid")
    assert len(parents) == 1
    parent = parents[0]
    assert parent.data.tags[Tag.STUDY_STATUS] == StudyStatus.COMPLETED
    children = child_runs(uri, "grid")
    assert len(children) == 5
    assert len({c.data.tags[Tag.TRIAL_ID] for c in children}) == 5
    assert all(c.data.tags[Tag.PARENT_RUN] == parent.info.run_id for c in children)
    statuses = sorted(c.data.tags[Tag.TRIAL_STATUS] for c in children)
    assert statuses == [TrialStatus.COMPLETED] * 4 + [TrialStatus.DIVERGED]

    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    by_number = {int(c.data.tags[Tag.OPTUNA_TRIAL]): c for c in children}
    for c in children:
        params = c.data.params
        assert params["latent_dim"] == "4" and params["steps"] == "60"
        assert ("beta" in params) == (params["model_type"] in ("beta_vae", "beta_tcvae"))
        if c.data.tags[Tag.TRIAL_STATUS] != TrialStatus.COMPLETED:
            assert "recon_error" not in c.data.metrics
            continue
        for metric in ("recon_error", "recon_mse", "blur", "beta_vae_score", "mig", "eval_loss"):
            assert metric in c.data.metrics, metric
        assert ("eval_kl" in c.data.metrics) == (params["model_type"] != "ae")
        history = client.get_metric_history(c.info.run_id, "train/loss")
        assert [m.step for m in history] == [20, 40, 60]
        artifacts = {a.path for a in client.list_artifacts(c.info.run_id, "images")}
        assert {"images/reconstructions.png", "images/samples.png", "images/traversals.png"} <= artifacts

    trials = optuna_trials(isolated_env / "runs", "grid")
    assert len(trials) == 5
    for t in trials:
        child = by_number[t.number]
        if child.data.tags[Tag.TRIAL_STATUS] == TrialStatus.COMPLETED:
            assert t.state == TrialState.COMPLETE
            assert t.values == pytest.approx([child.data.metrics["recon_error"],
                                              child.data.metrics["beta_vae_score"]])
        else:
            assert t.state == TrialState.FAIL and t.params == {"model_type": "vae", "kl_warmup_steps": 10}


# Trials of 60-120 steps stay on dSprites' plateau: their outputs are the mean image, a collapsed model
# whose blur is NaN (never a number in a front), so Optuna would record them FAIL. The plumbing tests
# optimise objectives every trial has.
@pytest.mark.parametrize("objectives", [["recon_error", "recon_mse"], ["recon_error"]], ids=["mo-asha", "asha"])
def test_asha_stopped_trials_are_pruned_in_optuna(isolated_env, objectives):
    grid = [{"model_type": "ae"}, {"model_type": "beta_vae", "beta": 64.0},
            {"model_type": "beta_vae", "beta": 96.0}, {"model_type": "beta_tcvae", "beta": 64.0}]
    cfg = config(isolated_env / "runs", "asha", space={"mode": "grid", "grid": grid},
                 trial={"steps": 60, "metrics": "recon"}, search={"asha": True, "asha_grace_steps": 20,
                                                                  "objectives": objectives},
                 resources={"max_concurrent": 1})
    summary = run_study(cfg)
    trials = optuna_trials(isolated_env / "runs", "asha")
    children = {int(c.data.tags[Tag.OPTUNA_TRIAL]): c for c in child_runs(summary["tracking_uri"], "asha")}
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert pruned, [t.state for t in trials]
    # the first trial arrives first at every rung and is never stopped at the last step: it completes
    assert trials[0].state == TrialState.COMPLETE, [t.state for t in trials]
    if len(objectives) > 1:  # multi-objective ASHA compared the estimates reported at its rungs (20, 40)
        from mlflow.tracking import MlflowClient

        history = MlflowClient(summary["tracking_uri"]).get_metric_history(children[0].info.run_id,
                                                                           "estimate/recon_mse")
        assert [m.step for m in history] == [20, 40]
    for t in trials:
        child = children[t.number]
        if t.state == TrialState.PRUNED:
            assert t.values is None
            assert child.data.tags[Tag.TRIAL_STATUS] == TrialStatus.PRUNED
            assert "recon_error" not in child.data.metrics
        else:
            assert t.state == TrialState.COMPLETE
            assert child.data.metrics["steps_done"] == 60  # complete means the whole budget


def test_killed_study_resumes_without_loss_or_duplicates(isolated_env):
    root = isolated_env / "runs"
    env = {**os.environ, "RAY_ADDRESS": "local", "RAY_AUTH_MODE": "disabled", "PYTHONUNBUFFERED": "1"}
    args = [sys.executable, "-m", "study.run", "--preset", "quick", "--name", "kr", "--root", str(root),
            "--num-trials", "4", "--max-concurrent", "1", "--sampler", "random",
            "--set", "trial.latent_dim=4", "--set", "trial.batch_size=32", "--set", "trial.steps=80",
            "--set", "trial.report_every=20", "--set", "trial.checkpoint_every=20", "--set", "trial.kl_warmup_steps=40",
            "--set", "trial.metrics=recon", "--set", "trial.eval_size=64", "--set", "trial.val_size=32",
            "--objectives", "recon_error,recon_mse"]
    log = open(isolated_env / "first.log", "w")
    first = subprocess.Popen(args, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True)
    deadline = time.time() + 240
    try:
        while time.time() < deadline:  # wait for one finished trial and one mid-way with a checkpoint
            time.sleep(2)
            assert first.poll() is None, open(isolated_env / "first.log").read()
            if not os.path.exists(root / "kr" / "optuna.db"):
                continue
            try:
                states = [t.state for t in optuna_trials(root, "kr")]
            except (KeyError, StorageInternalError, SQLAlchemyError):  # the study is still creating it
                continue
            checkpoints = list((root / "kr" / "tune").glob("*/checkpoint_*"))
            if states.count(TrialState.COMPLETE) >= 1 and TrialState.RUNNING in states and len(checkpoints) >= 3:
                break
        else:
            pytest.fail("the study did not reach a resumable point in time")
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        log.close()
    time.sleep(3)
    done = subprocess.run([sys.executable, "-m", "study.run", "--resume", "kr", "--root", str(root)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    trials = optuna_trials(root, "kr")
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 4
    assert all(t.state in (TrialState.COMPLETE, TrialState.FAIL) for t in trials)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    children = [c for c in child_runs(uri, "kr") if c.data.tags[Tag.TRIAL_STATUS] != TrialStatus.ABANDONED]
    abandoned = [c for c in child_runs(uri, "kr") if c.data.tags[Tag.TRIAL_STATUS] == TrialStatus.ABANDONED]
    # A trial the old driver had launched but Tune's saved state did not yet know is abandoned
    # in MLflow and FAIL in Optuna (never counted); every other trial has exactly one child run.
    assert len(abandoned) <= sum(t.state == TrialState.FAIL for t in trials)
    assert len(children) == 4, [c.data.tags for c in children]
    assert len({c.data.tags[Tag.TRIAL_ID] for c in children}) == 4
    assert {int(c.data.tags[Tag.OPTUNA_TRIAL]) for c in children} == {t.number for t in complete}
    assert all(c.data.tags[Tag.TRIAL_STATUS] == TrialStatus.COMPLETED for c in children)
    assert parent_runs(uri, "kr")[0].data.tags[Tag.STUDY_STATUS] == StudyStatus.COMPLETED
    for c in children:
        from mlflow.tracking import MlflowClient

        steps = [m.step for m in MlflowClient(uri).get_metric_history(c.info.run_id, "train/loss")]
        assert steps[-1] == 80 and len(steps) == len(set(steps)), steps


@pytest.mark.slow  # ~100 s on 2 shared cores: two studies' worth of Ray start-up, four tiny trials
def test_finished_study_extended_in_the_same_optuna_study_and_parent_run(isolated_env):
    root = isolated_env / "runs"
    cfg = config(root, "ext", trial={"metrics": "recon"},
                 search={"num_trials": 2, "objectives": ["recon_error", "recon_mse"], "sampler": "random"},
                 resources={"max_concurrent": 1})
    first = run_study(cfg)
    uri = first["tracking_uri"]
    report = root / "ext" / "analysis" / "report.md"
    before = report.stat().st_mtime_ns
    old_ids = {c.data.tags[Tag.TRIAL_ID] for c in child_runs(uri, "ext")}
    assert len(old_ids) == 2

    assert main(["--resume", "ext", "--root", str(root), "--num-trials", "4"]) == 0
    trials = optuna_trials(root, "ext")
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4 and [t.number for t in trials] == [0, 1, 2, 3]
    assert len({repr(sorted(t.params.items())) for t in trials}) == 4  # the sampler did not replay stage 1
    parents = parent_runs(uri, "ext")
    assert len(parents) == 1 and parents[0].info.run_id == first["parent_run_id"]
    assert parents[0].data.tags[Tag.STUDY_STATUS] == StudyStatus.COMPLETED
    assert parents[0].info.status == "FINISHED"
    children = child_runs(uri, "ext")
    ids = [c.data.tags[Tag.TRIAL_ID] for c in children]
    assert len(children) == 4 and len(set(ids)) == 4 and old_ids < set(ids)
    assert all(c.data.tags[Tag.PARENT_RUN] == first["parent_run_id"] for c in children)
    assert {int(c.data.tags[Tag.OPTUNA_TRIAL]) for c in children} == {0, 1, 2, 3}
    assert all(c.data.tags[Tag.TRIAL_STATUS] == TrialStatus.COMPLETED for c in children)
    from analysis.runs import load_runs

    assert sorted(load_runs("ext", tracking_uri=uri)[Tag.TRIAL_ID]) == sorted(ids)  # one row per trial
    assert report.stat().st_mtime_ns > before  # the report was drawn again, with all four trials
    assert (root / "ext" / "tune-2").is_dir()
    assert "num_trials: 4" in (root / "ext" / "config.yaml").read_text()
    assert main(["--resume", "ext", "--root", str(root)]) == 0  # nothing left to run: the same four
    assert len(child_runs(uri, "ext")) == 4 and len(optuna_trials(root, "ext")) == 4


def test_dry_run_and_bad_input_before_any_cluster_work(isolated_env, capsys):
    assert main(["--dry-run", "--num-trials", "4", "--model-types", "vae,beta_tcvae"]) == 0
    out = capsys.readouterr().out
    assert "beta_tcvae.beta        log-uniform [1, 16]" in out and "only for beta_tcvae" in out
    assert main(["--model-types", "vae,wae"]) == 2
    assert "space.model_types: unknown model type 'wae'; choose one of ae," in capsys.readouterr().err
    assert main(["--gpus", "1", "--name", "nogpu", "--root", str(isolated_env / "r")]) == 2
    assert "resources.gpus: each trial asks for 1" in capsys.readouterr().err
    assert not (isolated_env / "r").exists()  # refused before anything was recorded
    assert main(["--name", "unreachable", "--root", "/proc/betasweep-runs"]) == 2
    err = capsys.readouterr().err  # refused at the study's lock, before Ray
    assert "root: cannot create the study's lock /proc/betasweep-runs/unreachable/driver.lock" in err
    assert "use a writable --root" in err
