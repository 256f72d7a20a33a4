"""All eight model types in one real study (local Ray, SQLite MLflow), then UDR across seeds."""

import json

import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from analysis.__main__ import main as analysis_main
from analysis.schema import Artifact, Tag, TrialStatus
from study.config import make_config
from study.driver import run_study
from tests.study.conftest import TINY_TRIAL, child_runs, optuna_trials

pytestmark = pytest.mark.integration

ZOO = ("ae", "vae", "beta_vae", "beta_tcvae", "annealed_vae", "factor_vae", "dip_vae_i", "dip_vae_ii")


def test_all_eight_model_types_train_score_and_get_a_udr(isolated_env, tmp_path, monkeypatch):
    from models import MODELS

    root = isolated_env / "runs"
    trial = {**TINY_TRIAL, "metrics": "recon", "steps": 30, "report_every": 15, "checkpoint_every": 15,
             "kl_warmup_steps": 15, "eval_size": 32, "val_size": 32}
    cfg = make_config("quick", overrides={
        "name": "zoo", "root": str(root), "trial": trial,
        "space": {"mode": "grid", "grid": [{"model_type": m} for m in ZOO], "seeds_per_config": 2},
        "search": {"objectives": ["recon_error", "recon_mse"]}})
    uri = run_study(cfg)["tracking_uri"]

    children = child_runs(uri, "zoo")
    assert len(children) == 16
    # a run's "model/" is also its logged model named "model", which MLflow's artifact listing looks
    # up through the default tracking URI, not the client's (docs/tracking.md)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    assert {c.data.tags[Tag.TRIAL_STATUS] for c in children} == {TrialStatus.COMPLETED}
    client = MlflowClient(uri)
    for c in children:
        model_type = c.data.params["model_type"]
        declared = MODELS[model_type].hyperparameters
        # the model's own knobs are its params, under their own names, and the tag names them
        assert json.loads(c.data.tags[Tag.HYPERPARAMETERS]) == {hp.name: hp.label for hp in declared}
        for hp in declared:
            assert float(c.data.params[hp.name]) == hp.default
        assert {"recon_error", "blur", "eval_loss"} <= set(c.data.metrics)
        artifacts = {a.path for d in ("model", "codes") for a in client.list_artifacts(c.info.run_id, d)}
        assert {f"{Artifact.MODEL_DIR}/{Artifact.MODEL_FILE}", Artifact.UDR_CODES} <= artifacts
    by_type = {c.data.params["model_type"]: c for c in children}
    assert by_type["annealed_vae"].data.params["iteration_threshold"] == "10"  # a third of 30 steps
    assert "train/disc_loss" in by_type["factor_vae"].data.metrics
    assert {"eval_dip_offdiag", "eval_dip_diag"} <= set(by_type["dip_vae_ii"].data.metrics)
    assert [t.state for t in optuna_trials(root, "zoo")] == [TrialState.COMPLETE] * 8

    assert analysis_main(["udr", "--study", "zoo", "--tracking-uri", uri]) == 0
    udr = [client.get_run(c.info.run_id).data.metrics.get("udr") for c in children]
    assert all(u is not None and 0.0 <= u <= 1.0 for u in udr), udr
    assert np.std(udr) > 0  # a real score per trial, not a constant
    out = tmp_path / "report"
    assert analysis_main(["pareto", "--study", "zoo", "--x", "recon_error", "--y", "udr",
                          "--tracking-uri", uri, "--out", str(out)]) == 0
    assert (out / "pareto.png").stat().st_size > 0
