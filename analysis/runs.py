"""Reading studies back from MLflow as one tidy DataFrame (one row per trial).

Works on the runs ``python -m study.run`` writes (parent run per study, child run per trial, tags
``study``/``role``/``trial_status``) and on any MLflow experiment whose runs carry the same metric
names, so older or hand-made runs can be analysed too. Params come back from MLflow as strings and
are cast to their real types. Failed, diverged and pruned trials are kept but flagged (``ok`` is
False), so they are counted but never enter a Pareto front.

Example::

    from analysis.runs import load_runs
    df = load_runs("quick-20261124-101500")          # embedded store ./betasweep-runs/mlflow.db
    df[df.ok][["model_type", "beta", "recon_error", "beta_vae_score"]]
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from analysis.paging import search_all_runs
from analysis.redaction import redact_uri
from analysis.schema import Role, RunState, Tag, TrialStatus, default_tracking_uri

__all__ = ["RunsError", "default_tracking_uri", "cast_param", "list_studies", "study_parent_run", "load_runs",
           "require_metrics", "finished", "OK", "UNSUCCESSFUL", "FLAG_COLUMNS"]

#: Boolean columns :func:`load_runs` adds: ``ok`` (completed, may enter a front) and one per
#: unsuccessful ending (counted, never plotted).
OK = "ok"
UNSUCCESSFUL = (TrialStatus.FAILED.value, TrialStatus.DIVERGED.value, TrialStatus.PRUNED.value)
FLAG_COLUMNS = (OK, *UNSUCCESSFUL)
#: Row keys of a run besides its params and metrics.
_RUN_COLUMNS = ("run_id", "run_name", Tag.STUDY, Tag.TRIAL_ID, Tag.OPTUNA_TRIAL, "status", Tag.TRIAL_STATUS,
                "start_time")
_PARENT_QUERY = f"tags.{Tag.ROLE} = '{Role.STUDY}'"


class RunsError(ValueError):
    """A study, metric or run selection that does not exist; the message says what does."""


#: MLflow ≥ 3 opens an experiment on its GenAI pages ("Traces") unless the URL or the experiment's
#: ``mlflow.experimentKind`` tag says otherwise; this query opens the runs table ("Model training").
RUNS_VIEW_QUERY = "workflowType=machine_learning"
#: The run page's tab of the ``system/`` metrics (CPU, memory, GPU).
SYSTEM_METRICS_TAB = "system-metrics"
#: Where ``mlflow ui`` serves by default (for stores that are not a server: SQLite, files).
MLFLOW_UI_DEFAULT = "http://127.0.0.1:5000"


def mlflow_ui_url(tracking_uri: str | None, experiment_id, run_id: str | None = None,
                  artifact: str | None = None, tab: str | None = None) -> str | None:
    """Browser link to an experiment's runs table, or to one run: its overview, with ``artifact``
    its artifacts tab ("") or one artifact shown ("images/traversals.png"), with ``tab`` another
    tab (:data:`SYSTEM_METRICS_TAB`).

    Every link opens the runs view (``?workflowType=machine_learning``, docs/tracking.md), not
    MLflow 3's GenAI view. None when ``tracking_uri`` is not an http(s) server (pass
    :data:`MLFLOW_UI_DEFAULT` for a store that ``mlflow ui`` serves).

    >>> mlflow_ui_url("http://mlflow:5000/", "1", "abc")
    'http://mlflow:5000/#/experiments/1/runs/abc?workflowType=machine_learning'
    """
    if not tracking_uri or not tracking_uri.startswith(("http://", "https://")):
        return None
    tracking_uri = re.sub(r"^(https?://)[^/@]*@", r"\1", tracking_uri)  # a link carries no login
    path = f"#/experiments/{experiment_id}"
    if run_id:
        path += f"/runs/{run_id}"
        if artifact is not None:
            path += "/artifacts" + (f"/{artifact.strip('/')}" if artifact.strip("/") else "")
        elif tab:
            path += f"/{tab}"
    return f"{tracking_uri.rstrip('/')}/{path}?{RUNS_VIEW_QUERY}"


def browse_hint(tracking_uri: str, experiment_id) -> str:
    """How to look at an experiment's runs: the link, or for a local store the ``mlflow ui``
    command and the link it then serves."""
    url = mlflow_ui_url(tracking_uri, experiment_id)
    if url:
        return f"open {url}"
    return (f"mlflow ui --backend-store-uri {redact_uri(tracking_uri)}, then open "
            f"{mlflow_ui_url(MLFLOW_UI_DEFAULT, experiment_id)}")


def _client(tracking_uri: str | None):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri or default_tracking_uri())


def cast_param(value):
    """'4' → 4, '0.5' → 0.5, 'True' → True, 'None' → None; anything else stays a string."""
    if value is None:
        return None
    text = str(value)
    if text in ("None", "null", ""):
        return None
    if text in ("True", "False"):
        return text == "True"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def list_studies(tracking_uri: str | None = None, experiment: str = "betasweep") -> pd.DataFrame:
    """Studies of an experiment: name, parent run id, status, start time and trial count.

    One paged listing of the experiment's runs (:func:`analysis.paging.search_all_runs`), children
    counted by their parent run: neither a query per study nor a cut at a maximum count."""
    client = _client(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return pd.DataFrame(columns=[Tag.STUDY, "parent_run_id", Tag.STUDY_STATUS, "start_time", "trials"])
    runs = search_all_runs(client, [exp.experiment_id])
    parents = [r for r in runs if r.data.tags.get(Tag.ROLE) == Role.STUDY]
    trials: dict[str, int] = {}
    for run in runs:
        parent = run.data.tags.get(Tag.PARENT_RUN)
        if parent is not None:
            trials[parent] = trials.get(parent, 0) + 1
    rows = [{Tag.STUDY: p.data.tags.get(Tag.STUDY, p.info.run_name), "parent_run_id": p.info.run_id,
             Tag.STUDY_STATUS: p.data.tags.get(Tag.STUDY_STATUS),
             "start_time": pd.to_datetime(p.info.start_time, unit="ms"), "trials": trials.get(p.info.run_id, 0)}
            for p in sorted(parents, key=lambda r: r.info.start_time, reverse=True)]
    return pd.DataFrame(rows)


def study_parent_run(study: str, tracking_uri: str | None = None, experiment: str = "betasweep") -> str:
    """The parent run id of ``study``; a clear error lists the known studies."""
    client = _client(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise RunsError(f"experiment: no MLflow experiment {experiment!r} at "
                        f"{redact_uri(tracking_uri or default_tracking_uri())}")
    runs = client.search_runs([exp.experiment_id], f"tags.{Tag.STUDY} = '{study}' and {_PARENT_QUERY}",
                              max_results=1)
    if not runs:
        known = list_studies(tracking_uri, experiment)[Tag.STUDY].tolist()
        raise RunsError(f"study: unknown study {study!r}; known studies: {', '.join(known) or 'none'}")
    return runs[0].info.run_id


def load_runs(study: str | None = None, *, tracking_uri: str | None = None, experiment: str = "betasweep",
              parent_run_id: str | None = None) -> pd.DataFrame:
    """One row per trial run: ids, status flags, typed params, final metrics.

    Select by ``study`` name, by ``parent_run_id``, or neither (every run of the experiment that
    is not a study's parent run).
    """
    client = _client(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise RunsError(f"experiment: no MLflow experiment {experiment!r} at "
                        f"{redact_uri(tracking_uri or default_tracking_uri())}")
    if study is not None and parent_run_id is None:
        parent_run_id = study_parent_run(study, tracking_uri, experiment)
    query = f"tags.{Tag.PARENT_RUN} = '{parent_run_id}'" if parent_run_id else ""
    runs = search_all_runs(client, [exp.experiment_id], query)
    rows = [_row(r, study) for r in runs if r.data.tags.get(Tag.ROLE) != Role.STUDY]
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    if parent_run_id:  # the dataset as the study recorded it (e.g. dsprites-procedural)
        df["dataset_record"] = client.get_run(parent_run_id).data.tags.get(Tag.DATASET)
    _add_flags(df)
    if "beta" not in df.columns:
        df["beta"] = np.nan
    return df.sort_values("start_time").reset_index(drop=True)


def _row(run, study: str | None) -> dict:
    """One trial run as a row: ids and status tags, then typed params, then metrics."""
    tags = run.data.tags
    row = {"run_id": run.info.run_id, "run_name": run.info.run_name, Tag.STUDY: tags.get(Tag.STUDY, study),
           Tag.TRIAL_ID: tags.get(Tag.TRIAL_ID), Tag.OPTUNA_TRIAL: cast_param(tags.get(Tag.OPTUNA_TRIAL)),
           "status": run.info.status, Tag.TRIAL_STATUS: tags.get(Tag.TRIAL_STATUS),
           Tag.HYPERPARAMETERS: tags.get(Tag.HYPERPARAMETERS),
           "start_time": run.info.start_time}
    row.update({k: cast_param(v) for k, v in run.data.params.items()})
    row.update(run.data.metrics)
    row["experiment_id"] = run.info.experiment_id  # for links to the run (mlflow_ui_url)
    return row


def _add_flags(df: pd.DataFrame) -> None:
    """The :data:`FLAG_COLUMNS`. A run without a ``trial_status`` tag (hand-made) counts as ok when
    MLflow says it FINISHED; a FAILED run that did not diverge counts as failed."""
    ts, state = df[Tag.TRIAL_STATUS], df["status"]
    diverged = ts.eq(TrialStatus.DIVERGED)
    df[TrialStatus.DIVERGED.value] = diverged
    df[TrialStatus.PRUNED.value] = ts.eq(TrialStatus.PRUNED)
    df[TrialStatus.FAILED.value] = ts.eq(TrialStatus.FAILED) | state.eq(RunState.FAILED) & ~diverged
    df[OK] = state.eq(RunState.FINISHED) & (ts.isna() | ts.eq(TrialStatus.COMPLETED))


def require_metrics(df: pd.DataFrame, names) -> None:
    """Raise a clear error if a metric is absent from the runs (listing those present)."""
    missing = [n for n in names if n not in df.columns]
    if missing:
        reserved = {*_RUN_COLUMNS, *FLAG_COLUMNS}
        present = sorted(c for c in df.columns if c not in reserved and pd.api.types.is_float_dtype(df[c]))
        raise RunsError(f"metric: {', '.join(missing)} not found in the runs; metrics present: {', '.join(present)}")


def finished(df: pd.DataFrame, objectives) -> pd.DataFrame:
    """The trials that completed and carry every objective (the candidates for a front)."""
    if df.empty or not df["ok"].any():
        raise RunsError("runs: no finished trials to analyse (all failed, diverged, pruned or running)")
    require_metrics(df, objectives)
    ok = df[df["ok"]].dropna(subset=list(objectives))
    if ok.empty:
        raise RunsError(f"runs: no finished trial has all of {', '.join(objectives)}")
    return ok
