"""A trial's child run, logged from inside the trial: its calls (create or resume the run, curves,
final scores, artifacts, the model, the ending), each sent through one buffered mechanism
(:class:`study.tracking.sender.BufferedSender`). What is still unsent when the trial finishes
(after ``finish_wait`` seconds) stays in the buffer for the driver's final sync or
``python -m study.sync``.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from analysis.redaction import without_secrets
from analysis.schema import Artifact, Role, Tag, TrialStatus, numeric_values, run_state
from study.tracking.client import experiment_id_for, find_trial_run, unreachable
from study.tracking.sender import BufferedSender
from study.tracking.system_metrics import SystemSampler

log = logging.getLogger(__name__)

#: A score every final batch holds (the steps trained): where it is logged, the final scores are.
FINAL_MARKER = "steps_done"


class TrialTracker(BufferedSender):
    """A trial's child run, logged from inside the trial, buffered when the server is slow or down.

    Args:
        tracking_uri, experiment, parent_run_id, study_name, trial_id, run_id, buffer_dir,
            retry_after, background: where and how the calls are sent (:class:`BufferedSender`);
            ``run_id`` is the child run to continue (from the trial's checkpoint), if any.
        secrets: config keys never logged.
        start_wait: seconds :meth:`start` waits for the server to create the run (so a restart
            can find it by the id in the checkpoint); the trial starts anyway after that.
        finish_wait: seconds :meth:`finish` waits for the buffer to be sent.
        system_metrics: sample CPU, memory and GPU (:mod:`study.tracking.system_metrics`) and send
            them with each report's metrics and the final scores.
    """

    def __init__(self, tracking_uri: str, experiment: str, parent_run_id: str, study_name: str,
                 trial_id: str, run_id: str | None = None, buffer_dir: str | None = None,
                 secrets: tuple[str, ...] = (), retry_after: float = 15.0, background: bool = True,
                 start_wait: float = 10.0, finish_wait: float = 60.0, system_metrics: bool = True):
        super().__init__(tracking_uri, experiment, parent_run_id, study_name, trial_id, run_id=run_id,
                         buffer_dir=buffer_dir, retry_after=retry_after, background=background)
        self.attempts = 1
        self.secrets = set(secrets)
        self.start_wait = start_wait
        self.finish_wait = finish_wait
        self.logged_until = -1
        self.final_logged_at = -1
        self._system = SystemSampler() if system_metrics else None

    def _wait_created(self) -> None:
        """Until the run exists, an attempt to create it failed, or ``start_wait`` passed."""
        deadline = time.time() + self.start_wait
        with self._attempted:
            while self.run_id is None and self._down_since is None and self._failure is None:
                left = deadline - time.time()
                if left <= 0:
                    return
                self._attempted.wait(left)

    # -- the trial's calls ----------------------------------------------------------------------
    def start(self, params: dict[str, Any], optuna_trial: int | None = None,
              extra_tags: dict[str, str] | None = None) -> str | None:
        """Create the child run, or continue this trial's existing one; returns its id.
        ``extra_tags`` are further tags of the run (e.g. :attr:`Tag.HYPERPARAMETERS`)."""
        if self._system is not None:
            self._system.start()
        try:
            self.flush()  # a previous attempt's unsent calls first: the lookups below must see them
            if self.run_id is None:
                self.run_id = find_trial_run(self._client, self.parent_run_id, self.trial_id,
                                             experiment_id_for(self._client, self.tracking_uri, self.experiment))
        except Exception as exc:
            if not unreachable(exc):
                raise
            self._down_since = time.time()
        tags = {Tag.STUDY: self.study_name, Tag.ROLE: str(Role.TRIAL), Tag.TRIAL_ID: self.trial_id,
                Tag.TRIAL_STATUS: str(TrialStatus.RUNNING), Tag.PARENT_RUN: self.parent_run_id}
        if optuna_trial is not None:
            tags[Tag.OPTUNA_TRIAL] = str(optuna_trial)
        tags = without_secrets({**tags, **(extra_tags or {})}, self.secrets)
        clean = without_secrets(params, self.secrets)
        if self.run_id is None:
            tags[Tag.ATTEMPTS], self.attempts = "1", 1
            self.send("create", run_name=f"{self.study_name}/{self.trial_id}", tags=tags,
                       params={k: str(v) for k, v in clean.items()})
            if self.background:
                self._wait_created()
        else:
            self.attempts = self._attempts() + 1
            self.send("resume", tags={**tags, Tag.ATTEMPTS: str(self.attempts)})
            self.logged_until = self._last_logged_step()
            self.final_logged_at = self._last_logged_step(FINAL_MARKER)
        return self.run_id

    def _attempts(self) -> int:
        """How many times this trial's run was started before (1 for a first restart)."""
        try:
            return int(self._client.get_run(self.run_id).data.tags.get(Tag.ATTEMPTS, "1"))
        except Exception as exc:
            if not unreachable(exc):
                raise
            return 1

    def _last_logged_step(self, key: str = "train/loss") -> int:
        """Last step of the run's ``key``: a trial resumed from a checkpoint older than its last
        report re-trains those steps (deterministically) and must not log them twice; one whose
        final scores were logged before a fault must not log them again."""
        try:
            history = self._client.get_metric_history(self.run_id, key)
        except Exception as exc:
            if not unreachable(exc):
                raise
            return -1
        return max((m.step for m in history), default=-1)

    def log_metrics(self, metrics: dict[str, float], step: int, final: bool = False) -> None:
        """One batch of metrics at ``step``; what an earlier attempt of this trial logged is skipped
        (curve points up to its last step, ``final`` scores at or before the step it scored). A curve
        point (not ``final``) carries the system metrics since the last one."""
        if step <= (self.final_logged_at if final else self.logged_until):
            return
        if not final and self._system is not None:
            metrics = {**metrics, **self._system.take()}
        ts = int(time.time() * 1000)
        items = [[k, v, ts, int(step)] for k, v in numeric_values(metrics).items()]
        if items:
            self.send("metrics", metrics=items)

    def log_final(self, scores: dict[str, Any]) -> None:
        """Final scores: numbers as metrics (step = steps done), strings as tags; with the system
        metrics of the scoring."""
        step = int(scores.get("steps_done", 0) or 0)
        system = self._system.take() if self._system is not None else {}
        self.log_metrics({**numeric_values(scores), **system}, step, final=True)
        tags = {k: str(v) for k, v in scores.items() if isinstance(v, str)}
        if tags:
            self.send("tags", tags=tags)

    def log_artifacts(self, files: dict[str, str]) -> None:
        """Upload files as they are: artifact path (e.g. ``analysis.schema.Artifact.SAMPLES``, or
        ``model/model.pt``, which ``models.load_model`` reads back with ``torch.load(weights_only=
        True)``) → local file of the same name."""
        for artifact_path, local_path in files.items():
            folder, name = os.path.split(artifact_path)
            if os.path.basename(local_path) != name:
                raise ValueError(f"files: {local_path!r} must be named {name!r} to be logged as {artifact_path!r}")
            self.send("artifact", local_path=local_path, artifact_path=folder or None)

    def set_tags(self, tags: dict[str, str]) -> None:
        """Further tags of the run (e.g. :attr:`Tag.FAILURE_REASON`)."""
        self.send("tags", tags={k: str(v) for k, v in tags.items()})

    def log_dataset(self, record: dict[str, str]) -> None:
        """The dataset as the run's training input (:func:`study.tracking.records.dataset_record`)."""
        self.send("inputs", dataset=record)

    def log_model(self, local_dir: str, params: dict[str, str], model_type: str, step: int = 0,
                  tags: dict[str, str] | None = None) -> None:
        """A model folder in MLflow format (:func:`study.tracking.records.save_logged_model`) as the
        run's logged model :attr:`Artifact.LOGGED_MODEL`, output at ``step``; ``tags``: the model's
        (its source, as the run's)."""
        self.send("model", local_path=local_dir, name=Artifact.LOGGED_MODEL, params=params,
                   model_type=model_type, step=int(step), tags=tags or {})

    def finish(self, trial_status: TrialStatus) -> None:
        """Record how the trial ended and close the run (FINISHED unless it failed/diverged); wait
        up to ``finish_wait`` s for the buffer to be sent, then leave the rest to the driver."""
        if self._system is not None:
            self._system.stop()
        self.send("tags", tags={Tag.TRIAL_STATUS: str(trial_status)})
        self.send("end", status=str(run_state(trial_status)))
        if self.background:
            self._finished.set()
            self._wake.set()
            if not self.wait_sent(self.finish_wait):
                log.warning("MLflow has not taken all calls yet; %s keeps them for the driver's sync "
                            "(`python -m study.sync`)", self.buffer_dir)
            return
        try:
            self.flush()
        except Exception as exc:
            if not unreachable(exc):
                raise
            log.warning("MLflow still unreachable; %s keeps the buffered calls for "
                        "`python -m study.sync`", self.buffer_dir)
