"""The offline buffer: tracking calls written as JSONL lines while the server is unreachable, and
their idempotent replay (a per-buffer offset file records what was sent)."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from analysis.schema import RunState
from study.tracking.client import _experiment_id, _log_params

BUFFER_FILE = "buffer.jsonl"
OFFSET_FILE = "buffer.offset"

if TYPE_CHECKING:
    from study.tracking.trial_tracker import TrialTracker


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
