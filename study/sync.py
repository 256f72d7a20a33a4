"""``python -m study.sync DIR``: send to MLflow what trials buffered while it was unreachable.

Trials that could not reach the tracking server kept their calls in ``buffer.jsonl`` files under
the study folder (``<root>/<study>/tracking-buffer/<trial>/``). This replays every buffer found
under DIR, in order; an offset file per buffer makes it idempotent (running it twice sends
nothing twice).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from analysis.redaction import redact_uri, redacted_paths
from study.tracking.buffer import BUFFER_FILE, replay_buffer
from study.tracking.client import mlflow_client


def find_buffers(folder: str) -> list[str]:
    """Folders under ``folder`` that hold a tracking buffer."""
    return sorted(root for root, _dirs, files in os.walk(folder) if BUFFER_FILE in files)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m study.sync",
                                     description="Replay buffered MLflow calls of a study into MLflow.")
    parser.add_argument("folder", help="Study folder (<root>/<study>) or any folder holding buffers.")
    parser.add_argument("--tracking-uri", default=None,
                        help="Where to send them (default: the URI each buffer recorded, unless its password "
                             "was redacted).")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.folder):
        print(f"error: folder: {args.folder!r} does not exist; pass the study folder", file=sys.stderr)
        return 2
    total = 0
    for buffer in find_buffers(args.folder):
        uri = args.tracking_uri
        if uri is None:
            with open(os.path.join(buffer, BUFFER_FILE)) as handle:
                uri = json.loads(handle.readline())["context"]["tracking_uri"]
            if redacted_paths(uri):
                print(f"error: {buffer} recorded {uri}, its password redacted; pass --tracking-uri "
                      "(or the login in MLFLOW_TRACKING_USERNAME/PASSWORD and the URI without it)", file=sys.stderr)
                return 2
        sent = replay_buffer(buffer, mlflow_client(uri))
        total += sent
        print(f"{buffer}: sent {sent} call(s) to {redact_uri(uri)}")
    print(f"sent {total} call(s) from {len(find_buffers(args.folder))} buffer(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
