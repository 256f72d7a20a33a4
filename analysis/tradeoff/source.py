"""Where a tradeoff analysis reads its trials: a study in MLflow (with the objectives its parent run
recorded), or a per-trial CSV table such as ``benchmarks/data/seed-dsprites.csv``."""

from __future__ import annotations

import os

import pandas as pd

from analysis.schema import Tag, metric_direction


def parse_objectives(value: str | None) -> dict[str, str]:
    """The parent run's :attr:`Tag.PRESET_OBJECTIVES` ("blur,mig") as metric → catalogue direction
    (objectives without a catalogued direction are left out)."""
    names = [n.strip() for n in (value or "").split(",") if n.strip()]
    return {n: metric_direction(n) for n in names if metric_direction(n)}


def from_mlflow(study: str, tracking_uri: str, experiment: str = "betasweep") -> tuple[pd.DataFrame, dict[str, str]]:
    """The study's trial runs (:func:`analysis.runs.load_runs`) and its recorded objectives."""
    from mlflow.tracking import MlflowClient

    from analysis.runs import load_runs, study_parent_run

    parent = study_parent_run(study, tracking_uri, experiment)
    tags = MlflowClient(tracking_uri).get_run(parent).data.tags
    return load_runs(study, tracking_uri=tracking_uri, experiment=experiment), parse_objectives(
        tags.get(Tag.PRESET_OBJECTIVES))


def from_csv(path: str) -> tuple[pd.DataFrame, str]:
    """A per-trial table and a name for it (the file's stem)."""
    return pd.read_csv(path), os.path.splitext(os.path.basename(path))[0]
