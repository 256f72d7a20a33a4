"""The MLflow client every tracking call uses: short HTTP timeouts, the experiment (created with the
runs-table kind), params in batches, and telling "server unreachable" from "bad request"."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import time
from typing import Any

from analysis.redaction import redact_uri
from analysis.schema import Tag

log = logging.getLogger(__name__)


#: Short HTTP timeouts so a down server costs seconds, not minutes (MLflow's default retries back
#: off for minutes). Set only if the user did not choose their own. MLflow's own "View run/View
#: experiment at" lines (printed per finished run on a server) are silenced: they open MLflow 3's
#: GenAI pages; the study prints a link to the runs table (analysis.runs.mlflow_ui_url) instead.
_HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
                  "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1", "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}
PARAM_BATCH = 100
PARAM_MAX_LEN = 6000


def mlflow_client(uri: str):
    for key, value in _HTTP_DEFAULTS.items():
        os.environ.setdefault(key, value)
    from mlflow.tracking import MlflowClient

    return MlflowClient(uri)


#: Experiment tag saying the experiment holds training runs: MLflow 3 UIs that choose an
#: experiment's view by its kind open the runs table ("Model training"), not the GenAI pages
#: ("Traces", "Token usage"). MLflow 3.17's UI decides by its GenAI/Model-training switch instead
#: (the URL's ``workflowType``, default GenAI), hence the query in every link we print
#: (analysis.runs.mlflow_ui_url).
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")


#: (tracking URI, experiment name) → id, once per process: every trial of a Ray worker and every
#: buffer the driver replays asks for the same experiment.
_EXPERIMENT_IDS: dict[tuple[str, str], str] = {}


def experiment_id_for(client, uri: str, name: str) -> str:
    """The experiment's id (asked of the server once per process), creating it with artifacts
    next to a SQLite store (not the cwd) and the :data:`EXPERIMENT_KIND` tag. An existing
    experiment gets it too unless someone chose a kind (a value the UI merely inferred,
    ``*_inferred``, is replaced)."""
    key = (str(getattr(client, "tracking_uri", uri)), name)  # the store asked, not the one the call was meant for
    if key not in _EXPERIMENT_IDS:
        _EXPERIMENT_IDS[key] = _find_or_create_experiment(client, uri, name)
    return _EXPERIMENT_IDS[key]


def _find_or_create_experiment(client, uri: str, name: str) -> str:
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        if exp.tags.get(EXPERIMENT_KIND[0]) not in (EXPERIMENT_KIND[1], "genai_development"):
            client.set_experiment_tag(exp.experiment_id, *EXPERIMENT_KIND)
        return exp.experiment_id
    location = None
    if uri.startswith("sqlite:///"):
        db = uri[len("sqlite:///"):]
        location = "file://" + os.path.join(os.path.dirname(os.path.abspath(db)), "artifacts")
    try:
        return client.create_experiment(name, artifact_location=location, tags=dict([EXPERIMENT_KIND]))
    except Exception:  # created concurrently by another process
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


def find_trial_run(client, parent_run_id: str, trial_id: str, experiment_id: str | None = None) -> str | None:
    """The child run of ``trial_id`` under ``parent_run_id`` (in ``experiment_id``, else the
    parent's experiment), or None."""
    experiment_id = experiment_id or client.get_run(parent_run_id).info.experiment_id
    runs = client.search_runs(
        [experiment_id],
        f"tags.{Tag.PARENT_RUN} = '{parent_run_id}' and tags.{Tag.TRIAL_ID} = '{trial_id}'", max_results=5)
    return runs[0].info.run_id if runs else None


def git_sha() -> str:
    """The repository's commit, or "unknown" outside a git checkout (e.g. a Ray job's copy)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=os.path.dirname(os.path.abspath(__file__)))
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _params(params: dict[str, Any]):
    from mlflow.entities import Param

    return [Param(k, redact_uri(str(v))[:PARAM_MAX_LEN]) for k, v in params.items() if v is not None]


def log_params(client, run_id: str, params: dict[str, Any]) -> None:
    items = _params(params)
    for start in range(0, len(items), PARAM_BATCH):
        client.log_batch(run_id, params=items[start:start + PARAM_BATCH], synchronous=True)



def wait_until_reachable(tracking_uri: str, timeout: float = 300.0, interval: float = 5.0) -> bool:
    """Block until the tracking server answers (True) or ``timeout`` seconds pass (False)."""
    client = mlflow_client(tracking_uri)
    deadline = time.time() + timeout
    while True:
        try:
            client.search_experiments(max_results=1)
            return True
        except Exception as exc:
            if not unreachable(exc) or time.time() >= deadline:
                if not unreachable(exc):
                    raise
                return False
            log.warning("MLflow at %s unreachable; retrying in %.0fs", redact_uri(tracking_uri), interval)
            time.sleep(interval)




def refused(exc: BaseException) -> bool:
    """Did the server refuse us (HTTP 401/403: a server behind basic auth, no or wrong
    ``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD``)? A configuration error to report at
    once, not an outage to buffer through."""
    return re.search(r"error code 40[13]\b", str(exc)) is not None


def unreachable(exc: BaseException) -> bool:
    """Does ``exc`` mean the tracking server could not be reached (as opposed to a bad request or
    a refused login)?"""
    import requests

    if refused(exc):
        return False
    if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout, ConnectionError)):
        return True
    text = str(exc)
    return any(s in text for s in ("Max retries exceeded", "Connection refused", "Failed to establish",
                                   "Read timed out", "Connection aborted", "API request to"))

