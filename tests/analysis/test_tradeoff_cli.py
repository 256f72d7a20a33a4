"""``python -m analysis tradeoff`` on a real SQLite MLflow study and on a per-trial CSV, and the
tradeoff section of the study report (which a failing analysis must never break)."""

import json

import numpy as np
import pandas as pd
import pytest
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from analysis.__main__ import main
from analysis.schema import Role, RunState, Tag, TrialStatus

SEEDS = (0, 1, 2, 3)
CONFIGS = (("vae", None), ("beta_vae", 2.0), ("beta_vae", 4.0), ("beta_vae", 8.0))


def trial_metrics(mt, beta, seed):
    """β-VAE: blur falls and MIG rises with β; every seed has its own level (common random numbers)."""
    rng = np.random.default_rng(seed * 10 + (0 if beta is None else int(beta)))
    b = 1.0 if beta is None else beta
    return {"recon_error": 100 + 5 * np.log2(b) + seed + rng.normal(0, 0.2),
            "blur": 0.9 - 0.05 * np.log2(b) + 0.02 * seed + rng.normal(0, 0.003),
            "mig": 0.1 + 0.05 * np.log2(b) + 0.03 * seed + rng.normal(0, 0.003), "collapsed": 0.0}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("tradeoff-store")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(uri)
    exp = client.create_experiment("betasweep", artifact_location="file://" + str(root / "artifacts"))
    parent = client.create_run(exp, run_name="g", tags={Tag.STUDY: "g", Tag.ROLE: Role.STUDY,
                                                         Tag.PRESET_OBJECTIVES: "blur,mig"}).info.run_id
    for i, ((mt, beta), seed) in enumerate((c, s) for c in CONFIGS for s in SEEDS):
        run = client.create_run(exp, run_name=f"g/t{i}", tags={
            Tag.PARENT_RUN: parent, Tag.STUDY: "g", Tag.ROLE: Role.TRIAL, Tag.TRIAL_ID: f"t{i}",
            Tag.TRIAL_STATUS: TrialStatus.COMPLETED, Tag.HYPERPARAMETERS: '{"beta": "β"}' if beta else "{}"})
        params = {"model_type": mt, "seed": seed, "latent_dim": 10, **({"beta": beta} if beta else {})}
        client.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in params.items()],
                         metrics=[Metric(k, float(v), 0, 0) for k, v in trial_metrics(mt, beta, seed).items()])
        client.set_terminated(run.info.run_id, RunState.FINISHED)
    return uri


@pytest.mark.integration
def test_cli_on_a_real_study_uses_its_recorded_objectives(store, tmp_path, capsys):
    out = tmp_path / "t"
    assert main(["tradeoff", "--study", "g", "--tracking-uri", store, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "# What the study shows: g" in printed and f"wrote {out / 'tradeoff.json'}" in printed
    records = json.loads((out / "tradeoff.json").read_text())
    by_key = {(r["finding"], r["metric"], r.get("model_type") or r.get("a"), r.get("matched")): r for r in records}
    assert by_key[("trend", "blur", "beta_vae", None)]["verdict"] == "decreases"
    assert by_key[("trend", "mig", "beta_vae", None)]["verdict"] == "increases"
    assert by_key[("trend", "mig", "beta_vae", None)]["test"] == "within-seed permutation"
    assert by_key[("trend", "mig", "beta_vae", None)]["n_seeds"] == 4
    front = pd.read_csv(out / "tradeoff_front.csv")
    assert {"blur_mean", "mig_mean", "p_front"} <= set(front.columns)  # the study's objectives: blur vs mig
    assert front.set_index("config").loc["beta_vae beta=8", "p_front"] > 0.95
    assert (out / "tradeoff_front.png").stat().st_size > 10_000


def test_cli_reads_a_per_trial_csv(tmp_path, capsys):
    rows = [{"model_type": mt, "beta": beta, "seed": s, "trial_status": "completed", **trial_metrics(mt, beta, s)}
            for mt, beta in CONFIGS for s in SEEDS]
    path = tmp_path / "grid.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    out = tmp_path / "t"
    assert main(["tradeoff", "--csv", str(path), "--objectives", "recon_error,mig", "--out", str(out)]) == 0
    assert "# What the study shows: grid" in capsys.readouterr().out
    front = pd.read_csv(out / "tradeoff_front.csv")  # no blur in the objectives, but blur is the front's x
    assert {"blur_mean", "mig_mean"} <= set(front.columns)


def report_frame():
    rows = [{"run_id": f"r{i}", "trial_id": f"t{i}", "status": "FINISHED", "trial_status": "completed",
             "start_time": i, "model_type": mt, "beta": np.nan if beta is None else beta, "seed": s,
             "latent_dim": 10, "ok": True, "failed": False, "diverged": False, "pruned": False,
             **trial_metrics(mt, beta, s)}
            for i, ((mt, beta), s) in enumerate((c, s) for c in CONFIGS for s in SEEDS)]
    return pd.DataFrame(rows)


def test_the_report_carries_the_section_and_survives_its_failure(tmp_path, monkeypatch):
    from analysis import tradeoff
    from analysis.report import write_report

    written = write_report(report_frame(), {"blur": "min", "mig": "max"}, str(tmp_path / "ok"), study="g")
    md = (tmp_path / "ok" / "report.md").read_text()
    assert "## What the study shows: g" in md and "### Trends" in md and "![Robust front](tradeoff_front.png)" in md
    assert "tradeoff.json" in written and "<h3>Robust front</h3>" in (tmp_path / "ok" / "report.html").read_text()

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(tradeoff, "analyse", broken)
    write_report(report_frame(), {"blur": "min", "mig": "max"}, str(tmp_path / "bad"), study="g")
    md = (tmp_path / "bad" / "report.md").read_text()
    assert "The tradeoff analysis failed (RuntimeError: boom)" in md and "## Pareto-optimal trials" in md
