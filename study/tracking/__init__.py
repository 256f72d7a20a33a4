"""MLflow tracking: one parent run per study, one nested child run per trial, and nothing lost.

Layout (names from :mod:`analysis.schema`; the record is described in docs/architecture.md): the
parent run carries the flattened study config and the tags ``study``, ``role=study``, ``dataset`` (its
record name, e.g. ``dsprites-procedural``), ``git_sha``, ``study_status``; each trial's child run
(``mlflow.parentRunId``) carries tags ``study``, ``role=trial``, ``trial_id``, ``optuna_trial``,
``trial_status``, the trial config as params (names = config keys), curves by step, final scores,
images and the model checkpoint. Both carry what MLflow's own pages show (:mod:`study.tracking.records`,
:mod:`study.tracking.system_metrics`): the source (module and commit), system metrics (CPU, memory,
GPU); a trial's run also its dataset as an input and its model as an MLflow logged model.

Everything goes through :class:`MlflowClient` with explicit run ids — never the fluent
"active run" stack, which is process-global and Ray reuses worker processes between trials.

Resilience: a trial's tracker sends each call through one mechanism (:mod:`study.tracking.sender`).
When the tracking server cannot be reached, the call is appended to a JSONL buffer in the trial's
folder of the study directory (artifacts are copied next to it) and training goes on; the next calls first
replay the buffer in order (after a short back-off), and ``python -m study.sync`` replays any
buffer left behind. Replays are idempotent: a per-buffer offset file records what was sent.
"""

from analysis.schema import default_tracking_uri
from study.tracking.buffer import BUFFER_FILE, OFFSET_FILE, execute, replay_buffer
from study.tracking.client import find_trial_run, git_sha, unreachable, wait_until_reachable
from study.tracking.records import (
    STUDY_SOURCE,
    TRIAL_SOURCE,
    dataset_record,
    logged_model_params,
    save_logged_model,
    source_tags,
)
from study.tracking.study_run import (
    close_abandoned,
    find_study_run,
    log_study_artifacts,
    mark_trial_status,
    remove_duplicate_runs,
    set_study_status,
    start_study_run,
    sync_study,
)
from study.tracking.system_metrics import StudySystemMetrics, SystemSampler
from study.tracking.trial_tracker import TrialTracker

__all__ = ["default_tracking_uri", "start_study_run", "find_study_run", "set_study_status",
           "log_study_artifacts", "mark_trial_status", "TrialTracker", "replay_buffer", "execute",
           "BUFFER_FILE", "OFFSET_FILE", "git_sha", "wait_until_reachable", "close_abandoned",
           "sync_study", "find_trial_run", "unreachable", "remove_duplicate_runs", "source_tags", "dataset_record",
           "save_logged_model", "logged_model_params", "STUDY_SOURCE", "TRIAL_SOURCE", "StudySystemMetrics",
           "SystemSampler"]
