"""Runs read back from a real SQLite MLflow store, and the analysis CLI on it."""

import subprocess
import sys

import matplotlib.image as mpimg
import numpy as np
import pytest
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from analysis.__main__ import main
from analysis.runs import RunsError, load_runs
from analysis.schema import Artifact, Role, RunState, Tag, TrialStatus

pytestmark = pytest.mark.integration

TRIALS = [  # model_type, beta, latent_dim, seed, status, recon_error, beta_vae_score
    ("ae", None, 10, 0, TrialStatus.COMPLETED, 80.0, 0.30),
    ("vae", None, 10, 0, TrialStatus.COMPLETED, 95.0, 0.45),
    ("beta_vae", 4.0, 10, 0, TrialStatus.COMPLETED, 120.0, 0.70),
    ("beta_vae", 16.0, 6, 0, TrialStatus.COMPLETED, 160.0, 0.65),  # dominated
    ("beta_tcvae", 6.0, 10, 0, TrialStatus.COMPLETED, 110.0, 0.60),
    ("beta_vae", 8.0, 10, 0, TrialStatus.FAILED, None, None),
    ("vae", None, 10, 1, TrialStatus.DIVERGED, None, None),
    ("beta_tcvae", 2.0, 10, 0, TrialStatus.COMPLETED, 100.0, None),  # missing a metric
]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(uri)
    exp = client.create_experiment("betasweep", artifact_location="file://" + str(root / "artifacts"))
    parent = client.create_run(exp, run_name="s1", tags={Tag.STUDY: "s1", Tag.ROLE: Role.STUDY,
                                                          Tag.DATASET: "dsprites-procedural"}).info.run_id
    for i, (mt, beta, dim, seed, status, recon, score) in enumerate(TRIALS):
        run = client.create_run(exp, run_name=f"s1/t{i}", tags={
            Tag.PARENT_RUN: parent, Tag.STUDY: "s1", Tag.ROLE: Role.TRIAL, Tag.TRIAL_ID: f"t{i}",
            Tag.TRIAL_STATUS: status, Tag.OPTUNA_TRIAL: str(i)})
        params = {"model_type": mt, "latent_dim": dim, "seed": seed, "lr": 0.001, "amp": False}
        if beta is not None:
            params["beta"] = beta
        collapsed = beta == 16.0  # a finished trial whose outputs ignore the input: no blur, no shape_error
        ok = recon is not None and not collapsed
        metrics = {k: v for k, v in (("recon_error", recon), ("beta_vae_score", score),
                                     ("beta_vae_score_se", None if score is None else 0.05),
                                     ("blur", recon / 200 if ok else None),
                                     ("shape_error", recon / 1000 if ok else None),
                                     ("collapsed", None if recon is None else float(collapsed))) if v is not None}
        client.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in params.items()],
                         metrics=[Metric(k, v, 0, 0) for k, v in metrics.items()])
        if status == TrialStatus.COMPLETED:
            png = root / f"samples{i}.png"
            mpimg.imsave(png, np.random.default_rng(i).random((32, 32)), cmap="gray")
            client.log_artifact(run.info.run_id, str(png), Artifact.IMAGES_DIR)
            client.log_artifact(run.info.run_id, str(png), Artifact.IMAGES_DIR)
        client.set_terminated(run.info.run_id,
                              RunState.FINISHED if status == TrialStatus.COMPLETED else RunState.FAILED)
    client.create_run(exp, run_name="other", tags={Tag.STUDY: "s2", Tag.ROLE: Role.STUDY})
    return uri, parent


def test_dataframe_types_flags_and_front(store):
    uri, parent = store
    df = load_runs("s1", tracking_uri=uri)
    assert len(df) == len(TRIALS)
    assert set(df["dataset_record"]) == {"dsprites-procedural"}  # the parent run's dataset tag
    assert df["latent_dim"].dtype.kind == "i" and df["lr"].dtype.kind == "f"
    assert df["amp"].map(type).eq(bool).all()
    assert df["beta"].isna().sum() == 3
    by_trial = df.set_index("trial_id")
    failed, diverged = TrialStatus.FAILED.value, TrialStatus.DIVERGED.value  # the flag columns
    assert by_trial.loc["t5", failed] and not by_trial.loc["t5", "ok"]
    assert by_trial.loc["t6", diverged] and not by_trial.loc["t6", "ok"] and not by_trial.loc["t6", failed]
    assert by_trial["ok"].sum() == 6
    from analysis.report import front_of

    front = front_of(df, {"recon_error": "min", "beta_vae_score": "max"})
    assert sorted(front["trial_id"]) == ["t0", "t1", "t2", "t4"]  # t3 is dominated by t2
    assert load_runs(parent_run_id=parent, tracking_uri=uri)["run_id"].tolist() == df["run_id"].tolist()


def test_clear_errors(store):
    uri, _ = store
    with pytest.raises(RunsError, match="study: unknown study 'nope'; known studies: .*s1"):
        load_runs("nope", tracking_uri=uri)
    df = load_runs("s1", tracking_uri=uri)
    from analysis.runs import finished

    with pytest.raises(RunsError, match="metric: mig not found in the runs; metrics present: .*beta_vae_score"):
        finished(df, ["recon_error", "mig"])
    with pytest.raises(RunsError, match="no finished trials"):
        finished(load_runs("s2", tracking_uri=uri), ["recon_error"])


def test_cli_writes_every_figure_and_the_report(store, tmp_path):
    uri, parent = store
    out = tmp_path / "report"
    assert main(["pareto", "--study", "s1", "--tracking-uri", uri, "--out", str(out), "--log-to-mlflow"]) == 0
    for name in ("pareto", "fronts_by_model", "blur_vs_shape_error", "metric_vs_hyperparameter", "hypervolume",
                 "samples_by_model"):
        png = mpimg.imread(out / f"{name}.png")
        assert png.shape[0] > 200 and png.shape[1] > 300 and png.std() > 0, name
        assert (out / f"{name}.svg").stat().st_size > 1000
    report = (out / "report.md").read_text()
    assert "## Pareto-optimal trials" in report and "![Trials and the Pareto front](pareto.png)" in report
    assert "1 failed, 1 diverged" in report
    assert "1 finished trial(s) collapsed" in report and "![Blur vs shape error" in report
    assert "Dataset: dsprites-procedural (rendered procedurally" in report
    # front by recon: ae 0.30, vae 0.45, β-TCVAE 0.60, β-VAE 0.70 (SE 0.05 each: 2 SE = 0.141)
    assert "## Is the front resolved?" in report
    assert "1 of 3 steps along the front are within noise" in report
    assert report.count("within noise in beta_vae_score") == 1
    assert (out / "front.csv").read_text().count("\n") == 5  # header + 4 front trials
    logged = {a.path for a in MlflowClient(uri).list_artifacts(parent, Artifact.ANALYSIS_DIR)}
    assert "analysis/report.md" in logged and "analysis/pareto.png" in logged


def test_cli_errors_are_one_line(store, tmp_path):
    uri, _ = store
    done = subprocess.run([sys.executable, "-m", "analysis", "pareto", "--study", "s1", "--tracking-uri", uri,
                           "--y", "mig", "--out", str(tmp_path / "x")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: metric: mig not found") and "Traceback" not in done.stderr
    listing = subprocess.run([sys.executable, "-m", "analysis", "list", "--tracking-uri", uri],
                             capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0 and "s1" in listing.stdout and "s2" in listing.stdout


def test_cli_writes_report_html_and_says_how_to_browse_the_runs(store, tmp_path, capsys):
    uri, parent = store
    out = tmp_path / "report"
    assert main(["pareto", "--study", "s1", "--tracking-uri", uri, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out / 'report.html'}" in printed
    experiment_id = MlflowClient(uri).get_run(parent).info.experiment_id
    assert (f"browse the runs: mlflow ui --backend-store-uri {uri}, then open "
            f"http://127.0.0.1:5000/#/experiments/{experiment_id}?workflowType=machine_learning") in printed
    page = (out / "report.html").read_text()
    assert "<h2>Is the front resolved?</h2>" in page and "Dataset: dsprites-procedural" in page
    assert page.count('<img src="data:image/png;base64,') >= 5
    for trial in ("t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7"):  # every trial, failed ones too
        assert f"<td>{trial}</td>" in page
