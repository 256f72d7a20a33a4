"""MLflow tracking: one parent run per study, one nested child run per trial, and nothing lost.

Layout (names from :mod:`analysis.schema`; the record is described in docs/architecture.md): the
parent run carries the flattened study config and the tags ``study``, ``role=study``, ``dataset`` (its
record name, e.g. ``dsprites-procedural``), ``git_sha``, ``study_status``; each trial's child run
(``mlflow.parentRunId``) carries tags ``study``, ``role=trial``, ``trial_id``, ``optuna_trial``,
``trial_status``, the trial config as params (names = config keys), curves by step, final scores,
images and the model checkpoint.

Everything goes through :class:`MlflowClient` with explicit run ids — never the fluent
"active run" stack, which is process-global and Ray reuses worker processes between trials.

Resilience: a trial's tracker sends each call through :meth:`TrialTracker._send`. When the
tracking server cannot be reached, the call is appended to a JSONL buffer in the trial's folder of
the study directory (artifacts are copied next to it) and training goes on; the next calls first
replay the buffer in order (after a short back-off), and ``python -m study.sync`` replays any
buffer left behind. Replays are idempotent: a per-buffer offset file records what was sent.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import time
from typing import Any

from analysis.schema import (
    Artifact,
    Role,
    RunState,
    StudyStatus,
    Tag,
    TrialStatus,
    default_tracking_uri,
    numeric_values,
    run_state,
    without_secrets,
)

log = logging.getLogger(__name__)

__all__ = ["default_tracking_uri", "start_study_run", "find_study_run", "set_study_status",
           "log_study_artifacts", "mark_trial_status", "TrialTracker", "replay_buffer"]

#: Short HTTP timeouts so a down server costs seconds, not minutes (MLflow's default retries back
#: off for minutes). Set only if the user did not choose their own. MLflow's own "View run/View
#: experiment at" lines (printed per finished run on a server) are silenced: they open MLflow 3's
#: GenAI pages; the study prints a link to the runs table (analysis.runs.mlflow_ui_url) instead.
_HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
                  "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1", "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}
BUFFER_FILE = "buffer.jsonl"
OFFSET_FILE = "buffer.offset"
PARAM_BATCH = 100
PARAM_MAX_LEN = 6000


def _client(uri: str):
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


def _experiment_id(client, uri: str, name: str) -> str:
    """The experiment's id, creating it with artifacts next to a SQLite store (not the cwd) and
    the :data:`EXPERIMENT_KIND` tag. An existing experiment gets it too unless someone chose a
    kind (a value the UI merely inferred, ``*_inferred``, is replaced)."""
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

    return [Param(k, str(v)[:PARAM_MAX_LEN]) for k, v in params.items() if v is not None]


def _log_params(client, run_id: str, params: dict[str, Any]) -> None:
    items = _params(params)
    for start in range(0, len(items), PARAM_BATCH):
        client.log_batch(run_id, params=items[start:start + PARAM_BATCH], synchronous=True)


def start_study_run(tracking_uri: str, experiment: str, study_name: str, params: dict[str, Any],
                    tags: dict[str, str]) -> str:
    """Create the study's parent run; returns its id.

    A ``dataset`` tag is recorded under the dataset's record name
    (:func:`study.config.dataset_record_name`): the config value ``dsprites`` becomes
    ``dsprites-procedural``, so the procedural look-alike is never mistaken for the official
    release. The flattened config in the params keeps the config value.
    """
    from study.config import dataset_record_name

    client = _client(tracking_uri)
    exp_id = _experiment_id(client, tracking_uri, experiment)
    all_tags = {Tag.STUDY: study_name, Tag.ROLE: str(Role.STUDY), Tag.GIT_SHA: git_sha(),
                Tag.STUDY_STATUS: str(StudyStatus.RUNNING), **{k: str(v) for k, v in tags.items()}}
    if Tag.DATASET in all_tags:
        all_tags[Tag.DATASET] = dataset_record_name(all_tags[Tag.DATASET])
    run = client.create_run(exp_id, run_name=study_name, tags=all_tags)
    _log_params(client, run.info.run_id, params)
    return run.info.run_id


def find_study_run(tracking_uri: str, experiment: str, study_name: str) -> str | None:
    """The parent run of ``study_name`` (to reuse on resume), or None."""
    client = _client(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return None
    runs = client.search_runs([exp.experiment_id],
                              f"tags.{Tag.STUDY} = '{study_name}' and tags.{Tag.ROLE} = '{Role.STUDY}'", max_results=1)
    return runs[0].info.run_id if runs else None


def set_study_status(tracking_uri: str, run_id: str, status: StudyStatus) -> None:
    """Set ``study_status``; completed/failed also end the run (FINISHED/FAILED), running reopens it."""
    client = _client(tracking_uri)
    client.set_tag(run_id, Tag.STUDY_STATUS, str(status))
    state = run_state(status)
    if state == RunState.RUNNING:
        client.update_run(run_id, status=str(state))
    else:
        client.set_terminated(run_id, str(state))


def log_study_artifacts(tracking_uri: str, run_id: str, local_dir: str, artifact_path: str) -> None:
    """Upload a folder (e.g. the analysis report) to the parent run."""
    _client(tracking_uri).log_artifacts(run_id, local_dir, artifact_path)


def find_trial_run(client, parent_run_id: str, trial_id: str) -> str | None:
    """The child run of ``trial_id`` under ``parent_run_id``, or None."""
    parent = client.get_run(parent_run_id)
    runs = client.search_runs(
        [parent.info.experiment_id],
        f"tags.{Tag.PARENT_RUN} = '{parent_run_id}' and tags.{Tag.TRIAL_ID} = '{trial_id}'", max_results=5)
    return runs[0].info.run_id if runs else None


def mark_trial_status(tracking_uri: str, parent_run_id: str, trial_id: str, status: TrialStatus) -> None:
    """On the driver: record how a trial ended when the trial itself could not (stopped by the
    scheduler → pruned; crashed after its retries → failed)."""
    try:
        client = _client(tracking_uri)
        run_id = find_trial_run(client, parent_run_id, trial_id)
        if run_id is None:
            log.warning("no MLflow child run for trial %s; status %s not recorded", trial_id, status)
            return
        if client.get_run(run_id).data.tags.get(Tag.TRIAL_STATUS) in (TrialStatus.COMPLETED, TrialStatus.DIVERGED):
            return  # the trial recorded its own ending
        client.set_tag(run_id, Tag.TRIAL_STATUS, str(status))
        client.set_terminated(run_id, str(run_state(status)))
    except Exception as exc:  # never let bookkeeping kill the study
        log.warning("could not mark trial %s as %s in MLflow: %s", trial_id, status, exc)


def wait_until_reachable(tracking_uri: str, timeout: float = 300.0, interval: float = 5.0) -> bool:
    """Block until the tracking server answers (True) or ``timeout`` seconds pass (False)."""
    client = _client(tracking_uri)
    deadline = time.time() + timeout
    while True:
        try:
            client.search_experiments(max_results=1)
            return True
        except Exception as exc:
            if not _unreachable(exc) or time.time() >= deadline:
                if not _unreachable(exc):
                    raise
                return False
            log.warning("MLflow at %s unreachable; retrying in %.0fs", tracking_uri, interval)
            time.sleep(interval)


def sync_study(tracking_uri: str, study_dir: str) -> int:
    """Replay every trial buffer left in the study folder (idempotent); returns calls sent."""
    sent = 0
    client = _client(tracking_uri)
    for root, _dirs, files in os.walk(os.path.join(study_dir, "tracking-buffer")):
        if BUFFER_FILE in files:
            sent += replay_buffer(root, client)
    return sent


def close_abandoned(tracking_uri: str, parent_run_id: str) -> list[str]:
    """After a study's trials have all ended, mark child runs still running as abandoned.

    Such a run belongs to a trial attempt the scheduler no longer knows: the driver died after
    the trial started but before Tune's experiment state recorded it. Its Optuna trial was marked
    FAIL on resume (see :mod:`study.search`); this keeps MLflow in step. Returns their trial ids.
    """
    client = _client(tracking_uri)
    parent = client.get_run(parent_run_id)
    runs = client.search_runs([parent.info.experiment_id],
                              f"tags.{Tag.PARENT_RUN} = '{parent_run_id}' and "
                              f"tags.{Tag.TRIAL_STATUS} = '{TrialStatus.RUNNING}'", max_results=10000)
    for run in runs:
        client.set_tag(run.info.run_id, Tag.TRIAL_STATUS, str(TrialStatus.ABANDONED))
        client.set_terminated(run.info.run_id, str(run_state(TrialStatus.ABANDONED)))
    return [r.data.tags.get(Tag.TRIAL_ID) for r in runs]


def _unreachable(exc: BaseException) -> bool:
    """Does ``exc`` mean the tracking server could not be reached (as opposed to a bad request)?"""
    import requests

    if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout, ConnectionError)):
        return True
    text = str(exc)
    return any(s in text for s in ("Max retries exceeded", "Connection refused", "Failed to establish",
                                   "Read timed out", "Connection aborted", "API request to"))


class TrialTracker:
    """A trial's child run, logged from inside the trial, buffered when the server is down.

    Args:
        tracking_uri, experiment: where the study's runs live.
        parent_run_id: the study's run.
        study_name, trial_id: identify the trial (tags).
        run_id: the child run to continue (from the trial's checkpoint), if any.
        buffer_dir: folder for the offline buffer (inside the study directory).
        secrets: config keys never logged.
        retry_after: seconds to wait after a failed call before trying the server again.
    """

    def __init__(self, tracking_uri: str, experiment: str, parent_run_id: str, study_name: str,
                 trial_id: str, run_id: str | None = None, buffer_dir: str | None = None,
                 secrets: tuple[str, ...] = (), retry_after: float = 15.0):
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.parent_run_id = parent_run_id
        self.study_name = study_name
        self.trial_id = trial_id
        self.run_id = run_id
        self.buffer_dir = buffer_dir
        self.secrets = set(secrets)
        self.retry_after = retry_after
        self._down_since: float | None = None
        self._client = _client(tracking_uri)
        self.logged_until = -1

    # -- the one mechanism every call goes through ---------------------------------------------
    def _send(self, op: str, **payload: Any) -> None:
        entry = {"op": op, "run_id": self.run_id, **payload}
        if self._down_since is not None and time.time() - self._down_since < self.retry_after:
            self._buffer(entry)
            return
        try:
            self.flush()
            if self._pending():
                self._buffer(entry)
                return
            execute(self._client, entry, self)
            self._down_since = None
        except Exception as exc:
            if not _unreachable(exc):
                raise
            log.warning("MLflow unreachable (%s); buffering to %s", type(exc).__name__, self.buffer_dir)
            self._down_since = time.time()
            self._buffer(entry)

    def _buffer(self, entry: dict[str, Any]) -> None:
        if self.buffer_dir is None:
            raise RuntimeError("MLflow is unreachable and the tracker has no buffer_dir")
        os.makedirs(self.buffer_dir, exist_ok=True)
        if entry["op"] == "artifact":
            kept = os.path.join(self.buffer_dir, "artifacts", str(time.time_ns()),
                                os.path.basename(entry["local_path"]))
            os.makedirs(os.path.dirname(kept), exist_ok=True)
            shutil.copy2(entry["local_path"], kept)
            entry = {**entry, "local_path": kept}
        entry.setdefault("context", {"tracking_uri": self.tracking_uri, "experiment": self.experiment,
                                     "parent_run_id": self.parent_run_id, Tag.STUDY: self.study_name,
                                     Tag.TRIAL_ID: self.trial_id})
        with open(os.path.join(self.buffer_dir, BUFFER_FILE), "a") as handle:
            handle.write(json.dumps(entry) + "\n")

    def _pending(self) -> bool:
        if self.buffer_dir is None:
            return False
        path = os.path.join(self.buffer_dir, BUFFER_FILE)
        return os.path.exists(path) and _read_offset(self.buffer_dir) < os.path.getsize(path)

    def flush(self) -> int:
        """Replay the buffer (if any) in order; returns the number of calls sent."""
        if not self._pending():
            return 0
        sent = replay_buffer(self.buffer_dir, self._client, tracker=self)
        if sent:
            log.info("replayed %d buffered MLflow calls", sent)
        return sent

    # -- the trial's calls ----------------------------------------------------------------------
    def start(self, params: dict[str, Any], optuna_trial: int | None = None) -> str | None:
        """Create the child run, or continue this trial's existing one; returns its id."""
        try:
            if self.run_id is None:
                self.run_id = find_trial_run(self._client, self.parent_run_id, self.trial_id)
        except Exception as exc:
            if not _unreachable(exc):
                raise
            self._down_since = time.time()
        tags = {Tag.STUDY: self.study_name, Tag.ROLE: str(Role.TRIAL), Tag.TRIAL_ID: self.trial_id,
                Tag.TRIAL_STATUS: str(TrialStatus.RUNNING), Tag.PARENT_RUN: self.parent_run_id}
        if optuna_trial is not None:
            tags[Tag.OPTUNA_TRIAL] = str(optuna_trial)
        clean = without_secrets(params, self.secrets)
        if self.run_id is None:
            tags[Tag.ATTEMPTS] = "1"
            self._send("create", run_name=f"{self.study_name}/{self.trial_id}", tags=tags,
                       params={k: str(v) for k, v in clean.items()})
        else:
            attempts = self._attempts() + 1
            self._send("resume", tags={**tags, Tag.ATTEMPTS: str(attempts)})
            self.logged_until = self._last_logged_step()
        return self.run_id

    def _attempts(self) -> int:
        """How many times this trial's run was started before (1 for a first restart)."""
        try:
            return int(self._client.get_run(self.run_id).data.tags.get(Tag.ATTEMPTS, "1"))
        except Exception as exc:
            if not _unreachable(exc):
                raise
            return 1

    def _last_logged_step(self) -> int:
        """Last step of the run's training curve: a trial resumed from a checkpoint older than its
        last report re-trains those steps (deterministically) and must not log them twice."""
        try:
            history = self._client.get_metric_history(self.run_id, "train/loss")
        except Exception as exc:
            if not _unreachable(exc):
                raise
            return -1
        return max((m.step for m in history), default=-1)

    def log_metrics(self, metrics: dict[str, float], step: int, final: bool = False) -> None:
        """One batch of metrics at ``step`` (curve points already logged by an earlier attempt of
        this trial are skipped; ``final`` scores are always sent)."""
        if not final and step <= self.logged_until:
            return
        ts = int(time.time() * 1000)
        items = [[k, v, ts, int(step)] for k, v in numeric_values(metrics).items()]
        if items:
            self._send("metrics", metrics=items)

    def log_final(self, scores: dict[str, Any]) -> None:
        """Final scores: numbers as metrics (step = steps done), strings as tags."""
        step = int(scores.get("steps_done", 0) or 0)
        self.log_metrics(numeric_values(scores), step, final=True)
        tags = {k: str(v) for k, v in scores.items() if isinstance(v, str)}
        if tags:
            self._send("tags", tags=tags)

    def log_image(self, array, artifact_path: str) -> None:
        """A uint8 image array saved as PNG at ``artifact_path`` (e.g. :attr:`Artifact.SAMPLES`)."""
        import tempfile

        from analysis.images import save_png

        folder, name = os.path.split(artifact_path)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, name)
            save_png(array, path)
            self._send("artifact", local_path=path, artifact_path=folder or None)

    def log_model(self, model) -> None:
        """The trained model as ``model/model.pt`` (``models.load_model`` reads it back).

        A checkpoint file rather than ``mlflow.pytorch.log_model``: the latter pickles the module,
        writes an environment spec and takes seconds per trial; this is one small upload and loads
        with ``torch.load(weights_only=True)``.
        """
        import tempfile

        from models import save_model

        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, Artifact.MODEL_FILE)
            save_model(model, path)
            self._send("artifact", local_path=path, artifact_path=Artifact.MODEL_DIR)

    def finish(self, trial_status: TrialStatus) -> None:
        """Record how the trial ended and close the run (FINISHED unless it failed/diverged)."""
        self._send("tags", tags={Tag.TRIAL_STATUS: str(trial_status)})
        self._send("end", status=str(run_state(trial_status)))
        try:
            self.flush()
        except Exception as exc:
            if not _unreachable(exc):
                raise
            log.warning("MLflow still unreachable; %s keeps the buffered calls for "
                        "`python -m study.sync`", self.buffer_dir)


def execute(client, entry: dict[str, Any], tracker: TrialTracker | None = None) -> None:
    """Perform one tracking call described by a (possibly replayed) buffer entry."""
    from mlflow.entities import Metric, RunTag

    op, run_id = entry["op"], entry.get("run_id")
    if run_id is None and tracker is not None:
        run_id = tracker.run_id
    if op == "create":
        if run_id is None:
            ctx = entry.get("context", {})
            uri = tracker.tracking_uri if tracker else ctx["tracking_uri"]
            exp_id = _experiment_id(client, uri, tracker.experiment if tracker else ctx["experiment"])
            run = client.create_run(exp_id, run_name=entry["run_name"], tags=entry["tags"])
            run_id = run.info.run_id
            _log_params(client, run_id, entry["params"])
        if tracker is not None:
            tracker.run_id = run_id
        entry["_created"] = run_id
        return
    if run_id is None:
        raise RuntimeError("tracking call before the child run exists")
    if op == "resume":
        client.update_run(run_id, status=str(RunState.RUNNING))
        client.log_batch(run_id, tags=[RunTag(k, v) for k, v in entry["tags"].items()], synchronous=True)
    elif op == "metrics":
        client.log_batch(run_id, metrics=[Metric(k, v, ts, step) for k, v, ts, step in entry["metrics"]],
                         synchronous=True)
    elif op == "tags":
        client.log_batch(run_id, tags=[RunTag(k, v) for k, v in entry["tags"].items()], synchronous=True)
    elif op == "artifact":
        client.log_artifact(run_id, entry["local_path"], entry.get("artifact_path"))
    elif op == "end":
        client.set_terminated(run_id, entry["status"])
    else:
        raise ValueError(f"unknown buffered op {op!r}")


def _read_offset(buffer_dir: str) -> int:
    path = os.path.join(buffer_dir, OFFSET_FILE)
    if not os.path.exists(path):
        return 0
    with open(path) as handle:
        return int(handle.read().strip() or 0)


def replay_buffer(buffer_dir: str, client, tracker: TrialTracker | None = None) -> int:
    """Send the unsent entries of a buffer in order, advancing its offset after each one.

    A run created during replay gives its id to the following entries of the same buffer (which
    were written before the id existed). Returns how many entries were sent.
    """
    path = os.path.join(buffer_dir, BUFFER_FILE)
    if not os.path.exists(path):
        return 0
    offset = _read_offset(buffer_dir)
    sent = 0
    created = tracker.run_id if tracker is not None else _read_created(buffer_dir)
    with open(path) as handle:
        handle.seek(offset)
        while True:
            line = handle.readline()
            if not line:
                break
            entry = json.loads(line)
            if entry.get("run_id") is None and created is not None:
                entry["run_id"] = created
            execute(client, entry, tracker)
            if entry.get("_created"):
                created = entry["_created"]
                with open(os.path.join(buffer_dir, "run_id"), "w") as out:
                    out.write(created)
            offset = handle.tell()
            with open(os.path.join(buffer_dir, OFFSET_FILE), "w") as out:
                out.write(str(offset))
            sent += 1
    return sent


def _read_created(buffer_dir: str) -> str | None:
    path = os.path.join(buffer_dir, "run_id")
    if os.path.exists(path):
        with open(path) as handle:
            return handle.read().strip() or None
    return None
