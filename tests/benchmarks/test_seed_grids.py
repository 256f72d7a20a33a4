"""benchmarks/seed_grids.py on a real SQLite MLflow study: the per-trial CSV holds every completed
trial with its scores, and the figure draws prior samples of each type's logged seed-0 model."""

import os
import sys

import mlflow
import mlflow.pytorch
import pandas as pd
import pytest
from PIL import Image

from analysis.schema import Artifact, Role, Tag, TrialStatus
from models.registry import build_model

pytestmark = pytest.mark.integration
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "benchmarks"))
import seed_grids  # noqa: E402


def test_csv_and_prior_sample_figure_from_a_study(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    exp = mlflow.create_experiment("betasweep", artifact_location="file://" + str(tmp_path / "artifacts"))
    with mlflow.start_run(experiment_id=exp, run_name="s", tags={Tag.STUDY: "s", Tag.ROLE: Role.STUDY}) as parent:
        pass
    for i, (mt, seed) in enumerate((("ae", 0), ("vae", 0), ("vae", 1))):
        tags = {Tag.PARENT_RUN: parent.info.run_id, Tag.STUDY: "s", Tag.ROLE: Role.TRIAL, Tag.TRIAL_ID: f"t{i}",
                Tag.TRIAL_STATUS: TrialStatus.COMPLETED}
        with mlflow.start_run(experiment_id=exp, run_name=f"s/t{i}", tags=tags):
            mlflow.log_params({"model_type": mt, "seed": seed, "latent_dim": 4})
            mlflow.log_metrics({"blur": 0.8 + i, "sample_distance": 0.1 * (i + 1), "collapsed": 0.0})
            mlflow.pytorch.log_model(build_model(mt, latent_dim=4), name=Artifact.MODEL_DIR,
                                     serialization_format="pickle")
    csv, figure = tmp_path / "s.csv", tmp_path / "samples.png"
    seed_grids.main(["--study", "s", "--tracking-uri", uri, "--csv", str(csv), "--figure", str(figure)])
    table = pd.read_csv(csv)
    assert sorted(zip(table["model_type"], table["seed"], strict=True)) == [("ae", 0), ("vae", 0), ("vae", 1)]
    assert table.set_index("model_type").loc["ae", "sample_distance"] == pytest.approx(0.1)
    width, height = Image.open(figure).size
    assert width > 1.5 * height  # two panels side by side: the AE's and the VAE's seed-0 samples
