"""The buffer: a trial's tracking calls as JSONL lines, and their idempotent replay.

A trial's tracker writes every call here first (a slow or unreachable server never holds up its
training) and sends the lines in order from a background thread; ``python -m study.sync`` and the
driver replay what is left. A per-buffer offset file records what was sent, a lock file lets one
replay at a time run on a buffer (the trial's sender, a restarted attempt, the driver's sync), and
an attempt file marks a run (or logged-model) creation that was sent but not confirmed: a slow
server may have created it after the client gave up, so its replay looks it up before creating
another. Consecutive metrics and tags lines of a run are sent as one ``log_batch``.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
from contextlib import contextmanager
from typing import Any, Protocol

from analysis.schema import RunState
from study.tracking.client import experiment_id_for, find_trial_run, log_params, refused, unreachable
from study.tracking.records import send_dataset, send_logged_model

BUFFER_FILE = "buffer.jsonl"
OFFSET_FILE = "buffer.offset"
LOCK_FILE = "buffer.lock"
ATTEMPT_FILE = "buffer.attempt"
#: Buffered copies of artifacts (removed once sent).
ARTIFACTS_DIR = "artifacts"
#: Entries that replay merges into one ``log_batch``, and MLflow's limits for one.
MERGEABLE = ("metrics", "tags")
BATCH_METRICS, BATCH_TAGS = 1000, 100



class Sender(Protocol):
    """What a replay reads of the trial tracker sending it (a
    :class:`study.tracking.trial_tracker.TrialTracker`), and its ``run_id`` once the run is created."""

    run_id: str | None
    tracking_uri: str
    experiment: str
    parent_run_id: str
    trial_id: str

log = logging.getLogger(__name__)


def execute(client, entry: dict[str, Any], tracker: Sender | None = None, look_up: bool = False) -> None:
    """Perform one tracking call described by a (possibly replayed) buffer entry. With
    ``look_up``, a run or logged-model creation first looks for the one an earlier, unconfirmed
    attempt may have created."""
    from mlflow.entities import Metric, RunTag

    op, run_id = entry["op"], entry.get("run_id")
    if run_id is None and tracker is not None:
        run_id = tracker.run_id
    if op == "create":
        if run_id is None and look_up:
            run_id = _existing_run(client, entry, tracker)
            if run_id is not None:  # created by the attempt the client gave up on; its params may be missing
                log_params(client, run_id, entry["params"])
        if run_id is None:
            ctx = entry.get("context", {})
            uri = tracker.tracking_uri if tracker else ctx["tracking_uri"]
            exp_id = experiment_id_for(client, uri, tracker.experiment if tracker else ctx["experiment"])
            run = client.create_run(exp_id, run_name=entry["run_name"], tags=entry["tags"])
            run_id = run.info.run_id
            log_params(client, run_id, entry["params"])
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
    elif op == "batch":  # consecutive metrics and tags entries, merged by replay_buffer
        client.log_batch(run_id, metrics=[Metric(k, v, ts, step) for k, v, ts, step in entry["metrics"]],
                         tags=[RunTag(k, v) for k, v in entry["tags"].items()], synchronous=True)
    elif op == "artifact":
        client.log_artifact(run_id, entry["local_path"], entry.get("artifact_path"))
    elif op in ("inputs", "model"):
        _send_record(client, run_id, entry, tracker, look_up)
    elif op == "end":
        client.set_terminated(run_id, entry["status"])
    else:
        raise ValueError(f"unknown buffered op {op!r}")


def _send_record(client, run_id: str, entry: dict[str, Any], tracker: Sender | None, look_up: bool) -> None:
    """The dataset input or the logged model. A server that refuses it (a bad request, say an MLflow 2
    server without logged models) costs that record only, with a warning: never the trial or the
    rest of its run; an unreachable server or a refused login raises as for any call."""
    try:
        if entry["op"] == "inputs":
            send_dataset(client, run_id, entry["dataset"])
            return
        ctx = entry.get("context", {})
        uri = tracker.tracking_uri if tracker else ctx["tracking_uri"]
        exp_id = experiment_id_for(client, uri, tracker.experiment if tracker else ctx["experiment"])
        send_logged_model(client, run_id, exp_id, entry, look_up=look_up)
    except Exception as exc:
        if unreachable(exc) or refused(exc):
            raise
        log.warning("MLflow did not take the run's %s (%s); the run goes on without it",
                    "dataset input" if entry["op"] == "inputs" else "logged model", str(exc).splitlines()[0][:300])


def _existing_run(client, entry: dict[str, Any], tracker: Sender | None) -> str | None:
    from analysis.schema import Tag

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


def replay_buffer(buffer_dir: str, client, tracker: Sender | None = None) -> int:
    """Send the unsent entries of a buffer in order, advancing its offset after each send.

    A run created during replay gives its id to the following entries of the same buffer (which
    were written before the id existed). Consecutive metrics and tags entries of a run go as one
    ``log_batch`` (within MLflow's limits, :func:`_merged`): a trial's final scores, timings and
    status are one request, and so are the curve points a slow server let pile up. A line not yet
    complete (its writer is mid-write) waits for the next replay. Returns how many entries were sent.
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
            lines = _complete_lines(handle)
        while lines:
            entry, end, count = _merged(lines, created)
            _send_entry(buffer_dir, client, entry, tracker, offset)
            if entry.get("_created"):
                created = entry["_created"]
                _write(buffer_dir, "run_id", created)
            offset = end
            _write(buffer_dir, OFFSET_FILE, str(offset))
            _discard_copy(buffer_dir, entry)
            sent += count
            del lines[:count]
    return sent


def _complete_lines(handle) -> list[tuple[dict[str, Any], int]]:
    """(entry, offset after its line) for every complete line from the handle's position on."""
    out = []
    while True:
        line = handle.readline()
        if not line.endswith("\n"):
            return out
        out.append((json.loads(line), handle.tell()))


def _merged(lines: list[tuple[dict[str, Any], int]], created: str | None) -> tuple[dict[str, Any], int, int]:
    """The next call to send: the first entry, or the run of consecutive metrics/tags entries of one
    run that starts with it merged into a ``batch`` (later tag values win, as sent one by one;
    at most :data:`BATCH_METRICS` metrics and :data:`BATCH_TAGS` tags). Returns (entry, offset
    after it, entries used)."""
    entries = []
    for entry, end in lines:
        if entry.get("run_id") is None and created is not None:
            entry["run_id"] = created
        entries.append((entry, end))
        if entry["op"] not in MERGEABLE or entry["run_id"] is None:
            break
    first, end = entries[0]
    if first["op"] not in MERGEABLE or first["run_id"] is None:
        return first, end, 1
    batch = {"op": "batch", "run_id": first["run_id"], "metrics": [], "tags": {}}
    count = 0
    for entry, entry_end in entries:
        metrics, tags = entry.get("metrics", []), entry.get("tags", {})
        fits = (len(batch["metrics"]) + len(metrics) <= BATCH_METRICS
                and len(batch["tags"].keys() | tags.keys()) <= BATCH_TAGS)
        if entry["op"] not in MERGEABLE or entry["run_id"] != first["run_id"] or (count and not fits):
            break
        batch["metrics"] += metrics
        batch["tags"].update(tags)
        count, end = count + 1, entry_end
    return (first if count == 1 else batch), end, count


def _send_entry(buffer_dir: str, client, entry: dict[str, Any], tracker: Sender | None, offset: int) -> None:
    """One entry; a run or logged-model creation is marked as attempted (at its offset) until it is
    confirmed, so that a retry looks for what the unconfirmed attempt may have created."""
    if not (entry["op"] == "create" and entry.get("run_id") is None or entry["op"] == "model"):
        execute(client, entry, tracker)
        return
    attempt = os.path.join(buffer_dir, ATTEMPT_FILE)
    retried = os.path.exists(attempt) and _read(attempt) == str(offset)
    _write(buffer_dir, ATTEMPT_FILE, str(offset))
    execute(client, entry, tracker, look_up=retried)
    os.remove(attempt)


def _discard_copy(buffer_dir: str, entry: dict[str, Any]) -> None:
    """Remove an artifact's or a model's buffered copy once it is sent (the offset says it never
    will be again)."""
    copies = os.path.join(os.path.abspath(buffer_dir), ARTIFACTS_DIR) + os.sep
    local = os.path.abspath(entry.get("local_path") or "")
    if entry["op"] not in ("artifact", "model") or not local.startswith(copies) or not os.path.exists(local):
        return
    if os.path.isdir(local):
        shutil.rmtree(local)
    else:
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
