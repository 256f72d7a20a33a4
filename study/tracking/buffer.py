"""The buffer: a trial's tracking calls as JSONL lines, and their idempotent replay.

A trial's tracker writes every call here first (a slow or unreachable server never holds up its
training) and sends the lines in order from a background thread; ``python -m study.sync`` and the
driver replay what is left. A per-buffer offset file records what was sent, a lock file lets one
replay at a time run on a buffer (the trial's sender, a restarted attempt, the driver's sync), and
an attempt file marks a run creation that was sent but not confirmed: a slow server may have
created the run after the client gave up, so its replay looks the run up before creating another.
"""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from analysis.schema import RunState
from study.tracking.client import _experiment_id, _log_params

BUFFER_FILE = "buffer.jsonl"
OFFSET_FILE = "buffer.offset"
LOCK_FILE = "buffer.lock"
ATTEMPT_FILE = "buffer.attempt"
#: Buffered copies of artifacts (removed once sent).
ARTIFACTS_DIR = "artifacts"

if TYPE_CHECKING:
    from study.tracking.trial_tracker import TrialTracker


def execute(client, entry: dict[str, Any], tracker: TrialTracker | None = None, look_up: bool = False) -> None:
    """Perform one tracking call described by a (possibly replayed) buffer entry. With
    ``look_up``, a run creation first looks for the trial's run (one an earlier, unconfirmed
    attempt may have created)."""
    from mlflow.entities import Metric, RunTag

    op, run_id = entry["op"], entry.get("run_id")
    if run_id is None and tracker is not None:
        run_id = tracker.run_id
    if op == "create":
        if run_id is None and look_up:
            run_id = _existing_run(client, entry, tracker)
            if run_id is not None:  # created by the attempt the client gave up on; its params may be missing
                _log_params(client, run_id, entry["params"])
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


def _existing_run(client, entry: dict[str, Any], tracker: TrialTracker | None) -> str | None:
    from analysis.schema import Tag
    from study.tracking.study_run import find_trial_run

    ctx = entry.get("context", {})
    parent = tracker.parent_run_id if tracker else ctx.get("parent_run_id")
    trial_id = tracker.trial_id if tracker else ctx.get(Tag.TRIAL_ID)
    return find_trial_run(client, parent, trial_id) if parent and trial_id else None


@contextmanager
def locked(buffer_dir: str):
    """Hold the buffer's lock (blocking): one replay at a time, across threads and processes."""
    os.makedirs(buffer_dir, exist_ok=True)
    with open(os.path.join(buffer_dir, LOCK_FILE), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def pending(buffer_dir: str | None) -> bool:
    """Does the buffer hold calls not sent yet?"""
    if buffer_dir is None:
        return False
    path = os.path.join(buffer_dir, BUFFER_FILE)
    return os.path.exists(path) and _read_offset(buffer_dir) < os.path.getsize(path)


def _read_offset(buffer_dir: str) -> int:
    path = os.path.join(buffer_dir, OFFSET_FILE)
    if not os.path.exists(path):
        return 0
    with open(path) as handle:
        return int(handle.read().strip() or 0)


def replay_buffer(buffer_dir: str, client, tracker: TrialTracker | None = None) -> int:
    """Send the unsent entries of a buffer in order, advancing its offset after each one.

    A run created during replay gives its id to the following entries of the same buffer (which
    were written before the id existed). A line not yet complete (its writer is mid-write) waits
    for the next replay. Returns how many entries were sent.
    """
    path = os.path.join(buffer_dir, BUFFER_FILE)
    if not os.path.exists(path):
        return 0
    with locked(buffer_dir):
        offset = _read_offset(buffer_dir)
        sent = 0
        created = tracker.run_id if tracker is not None and tracker.run_id else _read_created(buffer_dir)
        with open(path) as handle:
            handle.seek(offset)
            while True:
                line = handle.readline()
                if not line.endswith("\n"):
                    break
                entry = json.loads(line)
                if entry.get("run_id") is None and created is not None:
                    entry["run_id"] = created
                _send_entry(buffer_dir, client, entry, tracker, offset)
                if entry.get("_created"):
                    created = entry["_created"]
                    _write(buffer_dir, "run_id", created)
                offset = handle.tell()
                _write(buffer_dir, OFFSET_FILE, str(offset))
                _discard_copy(buffer_dir, entry)
                sent += 1
    return sent


def _send_entry(buffer_dir: str, client, entry: dict[str, Any], tracker: TrialTracker | None, offset: int) -> None:
    """One entry; a creation is marked as attempted (at its offset) until it is confirmed."""
    if entry["op"] != "create" or entry.get("run_id") is not None:
        execute(client, entry, tracker)
        return
    attempt = os.path.join(buffer_dir, ATTEMPT_FILE)
    retried = os.path.exists(attempt) and _read(attempt) == str(offset)
    _write(buffer_dir, ATTEMPT_FILE, str(offset))
    execute(client, entry, tracker, look_up=retried)
    os.remove(attempt)


def _discard_copy(buffer_dir: str, entry: dict[str, Any]) -> None:
    """Remove an artifact's buffered copy once it is sent (the offset says it never will be again)."""
    copies = os.path.join(os.path.abspath(buffer_dir), ARTIFACTS_DIR) + os.sep
    local = os.path.abspath(entry.get("local_path") or "")
    if entry["op"] == "artifact" and local.startswith(copies) and os.path.exists(local):
        os.remove(local)
        os.rmdir(os.path.dirname(local))


def _read(path: str) -> str:
    with open(path) as handle:
        return handle.read().strip()


def _write(buffer_dir: str, name: str, text: str) -> None:
    with open(os.path.join(buffer_dir, name), "w") as handle:
        handle.write(text)


def _read_created(buffer_dir: str) -> str | None:
    path = os.path.join(buffer_dir, "run_id")
    if os.path.exists(path):
        with open(path) as handle:
            return handle.read().strip() or None
    return None
