"""The one mechanism a trial's tracking calls go through (:meth:`BufferedSender.send`).

With a buffer folder the call is appended to the trial's buffer and a background thread sends the
buffer in order (:mod:`study.tracking.buffer`): a slow server costs the training thread nothing,
and an unreachable one is retried every ``retry_after`` seconds. Without one, or with
``background=False``, each call is sent at once and waits (buffered only if it cannot be sent).
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

from analysis.redaction import redact_uri
from analysis.schema import Tag
from study.tracking.buffer import ARTIFACTS_DIR, BUFFER_FILE, execute, pending, replay_buffer
from study.tracking.client import mlflow_client, unreachable

log = logging.getLogger(__name__)


def append_line(path: str, line: str) -> None:
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


class BufferedSender:
    """Sends one run's tracking calls in order, through its buffer when there is one.

    Args:
        tracking_uri, experiment: where the study's runs live.
        parent_run_id: the study's run.
        study_name, trial_id: identify the trial (the context of every buffered line).
        run_id: the run the calls go to, if it exists already.
        buffer_dir: folder for the buffer (inside the study directory).
        retry_after: seconds to wait after a failed call before trying the server again.
        background: send from a background thread (needs ``buffer_dir``); False = every call waits.
    """

    def __init__(self, tracking_uri: str, experiment: str, parent_run_id: str, study_name: str,
                 trial_id: str, run_id: str | None = None, buffer_dir: str | None = None,
                 retry_after: float = 15.0, background: bool = True):
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.parent_run_id = parent_run_id
        self.study_name = study_name
        self.trial_id = trial_id
        self.run_id = run_id
        self.buffer_dir = buffer_dir
        self.retry_after = retry_after
        self.background = background and buffer_dir is not None
        self._down_since: float | None = None
        self._client = mlflow_client(tracking_uri)
        self._wake = threading.Event()
        self._finished = threading.Event()
        self._attempted = threading.Condition()
        self._failure: BaseException | None = None
        self._sender: threading.Thread | None = None

    def send(self, op: str, **payload: Any) -> None:
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
        append_line(os.path.join(self.buffer_dir, BUFFER_FILE), json.dumps(entry) + "\n")

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
