"""How trials and studies end, said early and in one line: a failed trial's reason (recorded on its
MLflow run as :attr:`analysis.schema.Tag.FAILURE_REASON` and shown in the console's end line), which
errors are deterministic (a missing file, a config error: not retried — a retry would fail the same
way), and a study interrupted by Ctrl-C, whose last console line is this project's resume command
(Ray Tune's ``Tuner.restore(...)`` hint is replaced by it)."""

from __future__ import annotations

import logging
import os

#: Errors that a retry of the same trial would meet again: reported at once, never retried.
DETERMINISTIC = (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError, ValueError,
                 TypeError, KeyError, ImportError)

REASON_MAX = 500


def failure_reason(exc: BaseException) -> str:
    """``"Type: first line of the message"`` (at most :data:`REASON_MAX` characters)."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    text = f"{type(exc).__name__}: {lines[0].strip()}" if lines else type(exc).__name__
    return text if len(text) <= REASON_MAX else text[:REASON_MAX - 1] + "…"


def is_deterministic(exc: BaseException) -> bool:
    """Would the same trial fail the same way again (a missing file, a bad config value)?"""
    return isinstance(exc, DETERMINISTIC)


def reason_with_attempt(exc: BaseException, attempt: int, max_failures: int) -> str:
    """The :attr:`Tag.FAILURE_REASON` value: the reason and which attempt it ended."""
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


def resume_hint(name: str, root: str) -> str:
    """The console's last line after an interruption: how to continue the study."""
    return (f"[betasweep] study {name} interrupted; its state is saved. Continue it with: "
            f"python -m study.run --resume {name} --root {os.path.abspath(root)}")
