"""One trial, no orchestration: build data and model, train with Adam, checkpoint, score.

:func:`train_and_evaluate` is all a trial is, in four steps read at a glance:
:func:`train.trial_run.setup` (data, model, optimiser, RNG streams, maybe a resumed checkpoint),
:func:`train.steps.train` (report windows of training steps), :func:`train.evaluation.score` (the
metric preset, the held-out objective terms and the codes UDR compares) and
:func:`train.evaluation.write_artifacts` (figures and the model file, rendered once). A caller such
as the study's Ray trainable plugs in through ``callback`` (reports and checkpoints) and
``resume_from`` (the last checkpoint after a crash); ``python -m train`` runs it from the command line.

Divergence is detected at report time: a non-finite running loss ends the trial with status
diverged (:class:`analysis.schema.TrialStatus`) instead of raising, so one bad hyper-parameter
never kills the study that runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from analysis.schema import Precision, TrialStatus, numeric_values
from train.config import TrialConfig
from train.evaluation import score, write_artifacts, write_udr_codes
from train.steps import COMPLETED, Report, train
from train.timings import Timings
from train.trial_run import TrialRun, setup


@dataclass
class TrialResult:
    """Outcome of a trial: status, steps done, final scores, the training curve, and the files
    written for it (artifact path → local file: figures and the model, see :class:`Artifact`)."""

    status: TrialStatus
    step: int
    scores: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    train_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None
    artifacts: dict[str, str] = field(default_factory=dict)
    timings: Timings = field(default_factory=Timings)
    precision: Precision = Precision.FP32


def train_and_evaluate(
    config: TrialConfig,
    *,
    checkpoint_dir: str | None = None,
    resume_from: str | None = None,
    callback: Callable[[Report], None] | None = None,
    extra_state: dict[str, Any] | None = None,
    data=None,
    artifact_dir: str | None = None,
    secrets: tuple[str, ...] = (),
    on_setup: Callable[[TrialRun], None] | None = None,
) -> TrialResult:
    """Train ``config``'s model and score it.

    Args:
        config: the trial (validated by the caller or by :func:`train.validation.trial_from_dict`).
        checkpoint_dir: where checkpoints are written (a fresh ``step_<n>`` folder each time);
            ``None`` = no checkpoints.
        resume_from: a checkpoint folder written by this function; training continues from its
            step with the same weights, optimiser moments and RNG streams.
        callback: receives a :class:`Report` every ``report_every`` steps (with the checkpoint
            path every ``checkpoint_every`` steps) and once at the end with the final scores.
        extra_state: JSON-able caller state stored in every checkpoint (e.g. an MLflow run id).
        data: a dataset object to reuse (else built from the config).
        artifact_dir: where a completed trial's figures, model file and UDR codes are written
            (:func:`write_artifacts`, :func:`write_udr_codes`); ``None`` = none are.
        secrets: config fields redacted from the checkpoints' meta (the study's ``secrets:``).
        on_setup: called with the :class:`TrialRun` once data and model are built (the trainable
            records the dataset then).

    Returns:
        A :class:`TrialResult`; ``status`` is diverged if the loss became NaN/inf, else completed.
    """
    timings = Timings()
    with timings.phase("setup"):
        run = setup(config, checkpoint_dir=checkpoint_dir, resume_from=resume_from,
                    extra_state=extra_state, data=data, secrets=secrets)
        if on_setup is not None:
            on_setup(run)
    run.timings = timings
    status, history, train_seconds = train(run, callback)
    result = TrialResult(status=status, step=run.step, history=history, train_seconds=train_seconds,
                         extra=run.extra, scores={"steps_done": float(run.step)}, timings=timings,
                         precision=run.precision)
    if status == COMPLETED:
        with timings.phase("scoring"):
            result.scores = {**score(run), "train_seconds": train_seconds}
            if artifact_dir is not None:  # UDR's measurement: the codes its study-level half compares
                result.artifacts.update(write_udr_codes(run, artifact_dir))
        with timings.phase("checkpoints"):
            result.checkpoint = run.checkpoint()
        if artifact_dir is not None:
            with timings.phase("artifacts"):
                result.artifacts.update(write_artifacts(run, artifact_dir))
    if callback is not None:
        metrics = numeric_values(result.scores) if status == COMPLETED else {"step": float(run.step)}
        with timings.phase("reports"):
            callback(Report(step=run.step, metrics=metrics, checkpoint=result.checkpoint, final=True))
    return result
