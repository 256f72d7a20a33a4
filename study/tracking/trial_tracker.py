"""A trial's child run, logged from inside the trial through one buffered mechanism.

Every call goes through :meth:`TrialTracker._send`. With a buffer folder (every trial of a study
has one) the call is appended to the trial's buffer and a background thread sends the buffer in
order (:mod:`study.tracking.buffer`): a slow tracking server costs the training thread nothing, and
an unreachable one is retried every ``retry_after`` seconds, as before. What is still unsent when
the trial finishes (after ``finish_wait`` seconds) stays in the buffer for the driver's final sync
or ``python -m study.sync``. Without a buffer folder, or with ``background=False``, each call is
sent at once and waits for the server (buffered only if it cannot be reached).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import threading
import time
from typing import Any

from analysis.redaction import redact_uri, without_secrets
from analysis.schema import Artifact, Role, Tag, TrialStatus, numeric_values, run_state
from study.tracking.buffer import ARTIFACTS_DIR, BUFFER_FILE, execute, pending, replay_buffer
from study.tracking.client import experiment_id_for, find_trial_run, mlflow_client, unreachable
from study.tracking.system_metrics import SystemSampler

log = logging.getLogger(__name__)

#: A score every final batch holds (the steps trained): where it is logged, the final scores are.
FINAL_MARKER = "steps_done"


def _append_line(path: str, line: str) -> None:
    """Append one whole line to the buffer, or nothing: a write cut short (a full disk) is cut back,
    else the next line would be glued onto the torn one and both lost to the replay."""
    data = line.encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        size = os.fstat(fd).st_size
        try:
            if os.write(fd, data) != len(data):
                raise OSError(errno.ENOSPC, "short write (no space left on device?)", path)
        except OSError:
            os.ftruncate(fd, size)
            raise
    finally:
        os.close(fd)


class TrialTracker:
    """A trial's child run, logged from inside the trial, buffered when the server is slow or down.

    Args:
        tracking_uri, experiment: where the study's runs live.
        parent_run_id: the study's run.
        study_name, trial_id: identify the trial (tags).
        run_id: the child run to continue (from the trial's checkpoint), if any.
        buffer_dir: folder for the buffer (inside the study directory).
        secrets: config keys never logged.
        retry_after: seconds to wait after a failed call before trying the server again.
        background: send from a background thread (needs ``buffer_dir``); False = every call waits.
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
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.parent_run_id = parent_run_id
        self.study_name = study_name
        self.trial_id = trial_id
        self.run_id = run_id
        self.attempts = 1
        self.buffer_dir = buffer_dir
        self.secrets = set(secrets)
        self.retry_after = retry_after
        self.background = background and buffer_dir is not None
        self.start_wait = start_wait
        self.finish_wait = finish_wait
        self._down_since: float | None = None
        self._client = mlflow_client(tracking_uri)
        self.logged_until = -1
        self.final_logged_at = -1
        self._wake = threading.Event()
        self._finished = threading.Event()
        self._attempted = threading.Condition()
        self._failure: BaseException | None = None
        self._sender: threading.Thread | None = None
        self._system = SystemSampler() if system_metrics else None

    # -- the one mechanism every call goes through ---------------------------------------------
    def _send(self, op: str, **payload: Any) -> None:
        entry = {"op": op, "run_id": self.run_id, **payload}
        if not self.background:
            self._send_now(entry)
            return
        if self._failure is not None:
            raise self._failure
        try:
            self._buffer(entry)
        except OSError as exc:
            self._send_past_buffer(entry, exc)
            return
        self._start_sender()
        self._wake.set()

    def _send_past_buffer(self, entry: dict[str, Any], exc: OSError) -> None:
        """The buffer cannot take the call (its disk is full): send it directly, after what the
        buffer still holds, so that a record such as the failure reason or the final status is not
        lost while MLflow answers; the disk's error is raised when it cannot be sent either."""
        log.warning("cannot buffer a tracking call in %s (%s); sending it directly", self.buffer_dir, exc)
        self._start_sender()
        self._wake.set()
        if not self.wait_sent(30.0):
            raise exc
        try:
            execute(self._client, entry, self)
        except Exception as send_error:
            raise exc from send_error

    def _send_now(self, entry: dict[str, Any]) -> None:
        """Send at once (waiting for the server); buffer if it cannot be reached."""
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
            if not unreachable(exc):
                raise
            log.warning("MLflow unreachable (%s); buffering to %s", type(exc).__name__, self.buffer_dir)
            self._down_since = time.time()
            self._buffer(entry)

    def _buffer(self, entry: dict[str, Any]) -> None:
        if self.buffer_dir is None:
            raise RuntimeError("MLflow is unreachable and the tracker has no buffer_dir")
        os.makedirs(self.buffer_dir, exist_ok=True)
        if entry["op"] in ("artifact", "model"):  # a copy: the trial's own files go with it
            kept = os.path.join(self.buffer_dir, ARTIFACTS_DIR, str(time.time_ns()),
                                os.path.basename(entry["local_path"]))
            os.makedirs(os.path.dirname(kept), exist_ok=True)
            copy = shutil.copytree if os.path.isdir(entry["local_path"]) else shutil.copy2
            try:
                copy(entry["local_path"], kept)
            except OSError:  # a partial copy (a full disk) is never replayed: it goes
                shutil.rmtree(os.path.dirname(kept), ignore_errors=True)
                raise
            entry = {**entry, "local_path": kept}
        entry.setdefault("context", {"tracking_uri": redact_uri(self.tracking_uri), "experiment": self.experiment,
                                     "parent_run_id": self.parent_run_id, Tag.STUDY: self.study_name,
                                     Tag.TRIAL_ID: self.trial_id})
        _append_line(os.path.join(self.buffer_dir, BUFFER_FILE), json.dumps(entry) + "\n")

    def _pending(self) -> bool:
        return pending(self.buffer_dir)

    def flush(self) -> int:
        """Replay the buffer (if any) in order; returns the number of calls sent."""
        if not self._pending():
            return 0
        sent = replay_buffer(self.buffer_dir, self._client, tracker=self)
        if sent:
            log.debug("sent %d buffered MLflow calls", sent)
        return sent

    # -- the background sender -----------------------------------------------------------------
    def _start_sender(self) -> None:
        if self._sender is None or not self._sender.is_alive():
            self._sender = threading.Thread(target=self._run_sender, name=f"tracker-{self.trial_id}", daemon=True)
            self._sender.start()

    def _run_sender(self) -> None:
        """Send the buffer whenever calls arrive; after a failed attempt wait ``retry_after`` s (or
        for :meth:`finish`). Ends when the trial has finished and its buffer is sent, or when a
        send after the finish fails (the rest is left for the driver's sync)."""
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._down_since is not None:
                self._finished.wait(max(0.0, self.retry_after - (time.time() - self._down_since)))
            try:
                self.flush()
                self._down_since = None
            except Exception as exc:
                if not unreachable(exc):
                    self._failure = exc
                    self._notify()
                    return
                log.warning("MLflow unreachable (%s); %s keeps the calls", type(exc).__name__, self.buffer_dir)
                self._down_since = time.time()
                self._wake.set()  # retry after the back-off
                if self._finished.is_set():
                    self._notify()
                    return
            self._notify()
            if self._finished.is_set() and not self._pending():
                return

    def _notify(self) -> None:
        with self._attempted:
            self._attempted.notify_all()

    def wait_sent(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for the buffer to be sent; False if calls are still unsent."""
        if not self.background:
            return not self._pending()
        deadline = time.time() + timeout
        with self._attempted:
            while self._pending() and self._sender is not None and self._sender.is_alive():
                left = deadline - time.time()
                if left <= 0:
                    break
                self._attempted.wait(min(left, 1.0))
        if self._failure is not None:
            raise self._failure
        return not self._pending()

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
            self._send("create", run_name=f"{self.study_name}/{self.trial_id}", tags=tags,
                       params={k: str(v) for k, v in clean.items()})
            if self.background:
                self._wait_created()
        else:
            self.attempts = self._attempts() + 1
            self._send("resume", tags={**tags, Tag.ATTEMPTS: str(self.attempts)})
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
            self._send("metrics", metrics=items)

    def log_final(self, scores: dict[str, Any]) -> None:
        """Final scores: numbers as metrics (step = steps done), strings as tags; with the system
        metrics of the scoring."""
        step = int(scores.get("steps_done", 0) or 0)
        system = self._system.take() if self._system is not None else {}
        self.log_metrics({**numeric_values(scores), **system}, step, final=True)
        tags = {k: str(v) for k, v in scores.items() if isinstance(v, str)}
        if tags:
            self._send("tags", tags=tags)

    def log_artifacts(self, files: dict[str, str]) -> None:
        """Upload files as they are: artifact path (e.g. ``analysis.schema.Artifact.SAMPLES``, or
        ``model/model.pt``, which ``models.load_model`` reads back with ``torch.load(weights_only=
        True)``) → local file of the same name."""
        for artifact_path, local_path in files.items():
            folder, name = os.path.split(artifact_path)
            if os.path.basename(local_path) != name:
                raise ValueError(f"files: {local_path!r} must be named {name!r} to be logged as {artifact_path!r}")
            self._send("artifact", local_path=local_path, artifact_path=folder or None)

    def set_tags(self, tags: dict[str, str]) -> None:
        """Further tags of the run (e.g. :attr:`Tag.FAILURE_REASON`)."""
        self._send("tags", tags={k: str(v) for k, v in tags.items()})

    def log_dataset(self, record: dict[str, str]) -> None:
        """The dataset as the run's training input (:func:`study.tracking.records.dataset_record`)."""
        self._send("inputs", dataset=record)

    def log_model(self, local_dir: str, params: dict[str, str], model_type: str, step: int = 0,
                  tags: dict[str, str] | None = None) -> None:
        """A model folder in MLflow format (:func:`study.tracking.records.save_logged_model`) as the
        run's logged model :attr:`Artifact.LOGGED_MODEL`, output at ``step``; ``tags``: the model's
        (its source, as the run's)."""
        self._send("model", local_path=local_dir, name=Artifact.LOGGED_MODEL, params=params,
                   model_type=model_type, step=int(step), tags=tags or {})

    def finish(self, trial_status: TrialStatus) -> None:
        """Record how the trial ended and close the run (FINISHED unless it failed/diverged); wait
        up to ``finish_wait`` s for the buffer to be sent, then leave the rest to the driver."""
        if self._system is not None:
            self._system.stop()
        self._send("tags", tags={Tag.TRIAL_STATUS: str(trial_status)})
        self._send("end", status=str(run_state(trial_status)))
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
