"""How trials and studies end, said early and in one line: a failed trial's reason (recorded on its
MLflow run as :attr:`analysis.schema.Tag.FAILURE_REASON` and shown in the console's end line), which
errors are deterministic (a missing file, a config error: not retried — a retry would fail the same
way), and a study interrupted by Ctrl-C, whose last console line is this project's resume command
(Ray Tune's ``Tuner.restore(...)`` hint is replaced by it)."""

from __future__ import annotations

import errno
import logging
import os

#: Errors that a retry of the same trial would meet again: reported at once, never retried.
DETERMINISTIC = (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError, ValueError,
                 TypeError, KeyError, ImportError)

REASON_MAX = 500

#: Errors of a full file system (errno), and the words of those that come without one (SQLite's
#: "database or disk is full", pyarrow's copy errors quoting the C library's message).
_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
_FULL_WORDS = ("no space left on device", "database or disk is full", "disk quota exceeded")


def disk_full_error(exc: BaseException | None) -> str | None:
    """If ``exc`` (or an exception it was raised from or during, or a remote traceback quoted in
    its message, as Tune's errors do) is a full disk — ENOSPC, EDQUOT, SQLite's "database or disk
    is full" —, its one line ("OSError: [Errno 28] No space left on device: ..."); else None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS:
            return failure_reason(exc)
        lines = [line.strip() for line in str(exc).splitlines()]
        found = [line for line in lines if any(words in line.lower() for words in _FULL_WORDS)]
        if found:
            return found[0] if len(found[0]) <= REASON_MAX else found[0][:REASON_MAX - 1] + "…"
        exc = exc.__cause__ or exc.__context__
    return None


def disk_full(exc: BaseException | None) -> bool:
    """Is ``exc`` a full disk (:func:`disk_full_error`)? A retry of the same write meets it again
    until space is freed, so a trial that meets it ends failed at once, and the driver stops the
    study (resumable)."""
    return disk_full_error(exc) is not None


def failure_reason(exc: BaseException) -> str:
    """``"Type: first line of the message"`` (at most :data:`REASON_MAX` characters)."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    text = f"{type(exc).__name__}: {lines[0].strip()}" if lines else type(exc).__name__
    return text if len(text) <= REASON_MAX else text[:REASON_MAX - 1] + "…"


def is_deterministic(exc: BaseException) -> bool:
    """Would the same trial fail the same way again (a missing file, a bad config value)?"""
    return isinstance(exc, DETERMINISTIC)


def ends_now(exc: BaseException) -> bool:
    """Does the trial end failed at once, without Tune's retries (deterministic, or a full disk)?"""
    return is_deterministic(exc) or disk_full(exc)


def reason_with_attempt(exc: BaseException, attempt: int, max_failures: int) -> str:
    """The :attr:`Tag.FAILURE_REASON` value: the reason and which attempt it ended (a full disk is
    named ENOSPC, whatever library raised it)."""
    if disk_full(exc):
        return (f"ENOSPC: {disk_full_error(exc)} (attempt {attempt} of {max_failures + 1}; not retried: "
                "the disk is full; free space, then --resume the study)")
    retried = "not retried: deterministic" if is_deterministic(exc) else (
        "will be retried" if attempt <= max_failures else "no retries left")
    return f"{failure_reason(exc)} (attempt {attempt} of {max_failures + 1}; {retried})"


def error_reason(trial) -> str:
    """The reason a Tune trial errored (its last error's first meaningful line), for the end line."""
    text = ""
    try:
        path = trial.error_file
        if path and os.path.exists(path):
            with open(path) as handle:
                text = handle.read()
    except Exception:  # the reason is a courtesy; the trial's error file stays in the study folder
        return ""
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith(" ")]
    for line in reversed(lines):  # Ray's text ends with the remote exception "module.Type: message"
        if ":" in line and not line.startswith(("Traceback", "During handling", "The above exception")):
            name, _, message = line.partition(": ")
            return f"{name.rsplit('.', 1)[-1]}: {message}"[:REASON_MAX]
    return ""


class InterruptWatch(logging.Filter):
    """Catches Ray Tune's "Experiment has been interrupted ... Tuner.restore(...)" warning: the
    driver learns the study was interrupted, and the console gets this project's resume command
    instead (:func:`resume_hint`). Install around ``Tuner.fit`` with ``with InterruptWatch():``."""

    LOGGER = "ray.tune.tune"

    def __init__(self):
        super().__init__()
        self.interrupted = False

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "has been interrupted" in message or "Tuner.restore(" in message:
            self.interrupted = True
            return False
        return True

    def __enter__(self) -> InterruptWatch:
        logging.getLogger(self.LOGGER).addFilter(self)
        return self

    def __exit__(self, *exc) -> None:
        logging.getLogger(self.LOGGER).removeFilter(self)


def disk_full_message(name: str, root: str, exc: BaseException) -> str:
    """The driver's lines when the study's root filled up: what failed, that the records made so
    far are kept, and how to continue once space is freed."""
    what = disk_full_error(exc) or failure_reason(exc)
    return (f"[betasweep] study {name} stopped: the disk holding {os.path.abspath(root)} is full ({what}). "
            "The records made so far are kept (MLflow, the checkpoints that load, the study's saved state); "
            "trials that could not write ended failed with an ENOSPC failure_reason.\n"
            f"[betasweep] study {name} is resumable. Free space, then continue it with: "
            f"python -m study.run --resume {name} --root {os.path.abspath(root)}")


def resume_hint(name: str, root: str) -> str:
    """The console's last line after an interruption: how to continue the study."""
    return (f"[betasweep] study {name} interrupted; its state is saved. Continue it with: "
            f"python -m study.run --resume {name} --root {os.path.abspath(root)}")
