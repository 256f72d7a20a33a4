"""The study's records on the driver: the parent run, its status, its artifacts, and the child-run
bookkeeping only the driver can do (a pruned or crashed trial, abandoned runs, syncing buffers)."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from analysis.paging import search_all_runs
from analysis.redaction import redact_uri, without_secrets
from analysis.schema import Role, RunState, StudyStatus, Tag, TrialStatus, run_state
from study.tracking.buffer import BUFFER_FILE, replay_buffer
from study.tracking.client import (
    experiment_id_for,
    find_trial_run,
    git_sha,
    log_params,
    mlflow_client,
    refused,
    unreachable,
)
from study.tracking.records import STUDY_SOURCE, source_tags

log = logging.getLogger(__name__)


def start_study_run(tracking_uri: str, experiment: str, study_name: str, params: dict[str, Any],
                    tags: dict[str, str], data_root: str | None = None, commit: str | None = None) -> str:
    """Create the study's parent run; returns its id. ``commit``: the code's (found here if not
    given), recorded as ``git_sha`` and as MLflow's source (:func:`study.tracking.records.source_tags`).

    The ``dataset`` tag holds the dataset's record name (:func:`train.data.record_name`,
    e.g. ``dsprites-procedural``), so a look-alike is never mistaken for the official release; the
    flattened config in the params keeps the config value.
    """
    from train.data import record_name

    client = mlflow_client(tracking_uri)
    exp_id = experiment_id_for(client, tracking_uri, experiment)
    commit = commit or git_sha()
    all_tags = {Tag.STUDY: study_name, Tag.ROLE: str(Role.STUDY), Tag.GIT_SHA: commit,
                **source_tags(STUDY_SOURCE, commit), Tag.STUDY_STATUS: str(StudyStatus.RUNNING),
                **without_secrets({k: str(v) for k, v in tags.items()}, ())}
    if Tag.DATASET in all_tags:
        all_tags[Tag.DATASET] = record_name(all_tags[Tag.DATASET], data_root)
    run = client.create_run(exp_id, run_name=study_name, tags=all_tags)
    log_params(client, run.info.run_id, params)
    return run.info.run_id


def find_study_run(tracking_uri: str, experiment: str, study_name: str) -> str | None:
    """The parent run of ``study_name`` (to reuse on resume), or None."""
    client = mlflow_client(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return None
    runs = client.search_runs([exp.experiment_id],
                              f"tags.{Tag.STUDY} = '{study_name}' and tags.{Tag.ROLE} = '{Role.STUDY}'", max_results=1)
    return runs[0].info.run_id if runs else None


def set_study_status(tracking_uri: str, run_id: str, status: StudyStatus) -> None:
    """Set ``study_status``; completed/failed also end the run (FINISHED/FAILED), running reopens it."""
    client = mlflow_client(tracking_uri)
    client.set_tag(run_id, Tag.STUDY_STATUS, str(status))
    state = run_state(status)
    if state == RunState.RUNNING:
        client.update_run(run_id, status=str(state))
    else:
        client.set_terminated(run_id, str(state))


def log_study_artifacts(tracking_uri: str, run_id: str, local_dir: str, artifact_path: str) -> None:
    """Upload a folder (e.g. the analysis report) to the parent run."""
    mlflow_client(tracking_uri).log_artifacts(run_id, local_dir, artifact_path)


def mark_trial_status(tracking_uri: str, parent_run_id: str, trial_id: str, status: TrialStatus,
                      reason: str | None = None) -> None:
    """On the driver: record how a trial ended when the trial itself could not (stopped by the
    scheduler → pruned; crashed after its retries → failed, with ``reason`` as its failure reason
    unless the trial recorded one: a worker that died could not)."""
    try:
        client = mlflow_client(tracking_uri)
        run_id = find_trial_run(client, parent_run_id, trial_id)
        if run_id is None:
            log.warning("no MLflow child run for trial %s; status %s not recorded", trial_id, status)
            return
        tags = client.get_run(run_id).data.tags
        if tags.get(Tag.TRIAL_STATUS) in (TrialStatus.COMPLETED, TrialStatus.DIVERGED):
            return  # the trial recorded its own ending
        if reason and Tag.FAILURE_REASON not in tags:
            client.set_tag(run_id, Tag.FAILURE_REASON, reason)
        client.set_tag(run_id, Tag.TRIAL_STATUS, str(status))
        client.set_terminated(run_id, str(run_state(status)))
    except Exception as exc:  # never let bookkeeping kill the study
        log.warning("could not mark trial %s as %s in MLflow: %s", trial_id, status, exc)



def sync_study(tracking_uri: str, study_dir: str, timeout: float = 300.0, interval: float = 5.0) -> int:
    """Replay every trial buffer left in the study folder (idempotent); returns calls sent.

    A server that times out or cannot be reached (one still working through a backlog that
    trials gave up on) is retried every ``interval`` s for up to ``timeout`` s, then the error is
    raised: what is unsent stays in the buffers for ``python -m study.sync``."""
    sent = 0
    client = mlflow_client(tracking_uri)
    deadline = time.time() + timeout
    for root, _dirs, files in os.walk(os.path.join(study_dir, "tracking-buffer")):
        if BUFFER_FILE not in files:
            continue
        while True:
            try:
                sent += replay_buffer(root, client)
                break
            except Exception as exc:
                if not unreachable(exc) or time.time() >= deadline:
                    raise
                log.warning("MLflow at %s did not answer (%s); retrying the sync in %.0fs", redact_uri(tracking_uri),
                            type(exc).__name__, interval)
                time.sleep(interval)
    return sent


def remove_duplicate_runs(tracking_uri: str, parent_run_id: str) -> list[str]:
    """Delete the extra child runs of a trial that has several; returns their ids.

    A creation the client gave up on may still have been carried out by a slow server. The run the
    trial logged to is kept (most metrics and params; the older on a tie); the others are
    soft-deleted, or detached (:func:`detach_duplicate`) by a login that may not delete runs."""
    client = mlflow_client(tracking_uri)
    parent = client.get_run(parent_run_id)
    runs = search_all_runs(client, [parent.info.experiment_id], f"tags.{Tag.PARENT_RUN} = '{parent_run_id}'")
    by_trial: dict[str, list] = {}
    for run in runs:
        by_trial.setdefault(run.data.tags.get(Tag.TRIAL_ID), []).append(run)
    removed = []
    for trial_id, group in by_trial.items():
        if trial_id is None or len(group) < 2:
            continue
        group.sort(key=lambda r: (-len(r.data.metrics) - len(r.data.params), r.info.start_time))
        for extra in group[1:]:
            try:
                client.delete_run(extra.info.run_id)
            except Exception as exc:
                if not refused(exc):
                    raise
                detach_duplicate(client, extra.info.run_id, group[0].info.run_id)
            removed.append(extra.info.run_id)
    if removed:
        log.warning("deleted %d duplicate child run(s) left by run creations the client gave up on", len(removed))
    return removed


def detach_duplicate(client, run_id: str, kept: str) -> None:
    """Take a duplicate child run out of its study without deleting it: no parent or study tag (the
    listings select by them), ``duplicate_of`` the kept run, ended as killed."""
    client.set_tag(run_id, Tag.DUPLICATE_OF, kept)
    for tag in (Tag.PARENT_RUN, Tag.STUDY):
        client.delete_tag(run_id, tag)
    client.set_terminated(run_id, str(RunState.KILLED))


def close_abandoned(tracking_uri: str, parent_run_id: str) -> list[str]:
    """After a study's trials have all ended, mark child runs still running as abandoned.

    Such a run belongs to a trial attempt the scheduler no longer knows: the driver died after
    the trial started but before Tune's experiment state recorded it. Its Optuna trial was marked
    FAIL on resume (see :mod:`study.search`); this keeps MLflow in step. Returns their trial ids.
    """
    client = mlflow_client(tracking_uri)
    parent = client.get_run(parent_run_id)
    runs = search_all_runs(client, [parent.info.experiment_id],
                           f"tags.{Tag.PARENT_RUN} = '{parent_run_id}' and "
                           f"tags.{Tag.TRIAL_STATUS} = '{TrialStatus.RUNNING}'")
    for run in runs:
        client.set_tag(run.info.run_id, Tag.TRIAL_STATUS, str(TrialStatus.ABANDONED))
        client.set_terminated(run.info.run_id, str(run_state(TrialStatus.ABANDONED)))
    return [r.data.tags.get(Tag.TRIAL_ID) for r in runs]


