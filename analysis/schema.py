"""The record schema: the one vocabulary of what a study writes to MLflow and the analysis reads.

Statuses, tag names, artifact paths, the metric catalogue (kept in :mod:`analysis.catalogue`,
re-exported here) and the rules of what becomes a record
(numbers are metrics, strings are tags, secrets are never logged). ``study`` and ``analysis`` both
import it, so a name is spelled in one place; it imports only the standard library (no Ray, torch,
MLflow or pandas), so validating a config or reading a status costs nothing. docs/architecture.md
describes the same schema in prose; tests/analysis/test_schema.py keeps the doc, the catalogue and
what the code produces in step.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from analysis.catalogue import (  # noqa: F401  (re-exported: the catalogue is part of the schema)
    CATALOGUE,
    ESTIMATE_PRESET,
    METRIC_PRESETS,
    METRICS,
    SCORERS,
    Metric,
    Scorer,
    Source,
    metric_direction,
    metric_label,
    metrics_table,
)


class TrialStatus(StrEnum):
    """How a trial stands (tag ``trial_status``, and the Tune report key of the same name).

    running: training; completed: trained and scored; diverged: its loss became NaN/inf; pruned:
    stopped early by the scheduler (ASHA); failed: crashed after its retries, or scored a
    non-finite objective; abandoned: its run was left open by a driver that died.
    """

    RUNNING = "running"
    COMPLETED = "completed"
    DIVERGED = "diverged"
    PRUNED = "pruned"
    FAILED = "failed"
    ABANDONED = "abandoned"


class StudyStatus(StrEnum):
    """How a study stands (tag ``study_status`` of its parent run)."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    """Every trial failed (none completed): the driver exits non-zero."""
    INTERRUPTED = "interrupted"
    """Stopped by Ctrl-C / SIGINT with its state saved: ``python -m study.run --resume NAME`` continues it."""


class RunState(StrEnum):
    """MLflow's own lifecycle states of a run (``run.info.status``) that a study sets."""

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"


def run_state(status: str) -> RunState:
    """The MLflow run state that goes with a trial or study status: running stays RUNNING;
    completed and pruned (a scheduler's decision, not an error) are FINISHED; any other end FAILED."""
    if status == TrialStatus.RUNNING:
        return RunState.RUNNING
    if status == StudyStatus.INTERRUPTED:
        return RunState.KILLED
    if status in (TrialStatus.COMPLETED, TrialStatus.PRUNED):
        return RunState.FINISHED
    return RunState.FAILED


class Precision(StrEnum):
    """The arithmetic a trial trained in (tag ``precision``), resolved from ``trial.amp`` on its node."""

    FP32 = "fp32"
    """float32 throughout."""
    BF16 = "bf16"
    """The networks under bfloat16 autocast; the loss's delicate terms in float32 (models.precision)."""


class Role(StrEnum):
    """Values of tag ``role``: the study's parent run, or a trial's nested child run."""

    STUDY = "study"
    TRIAL = "trial"


class Tag:
    """MLflow tag names (plain strings, so they pass unchanged through every MLflow client)."""

    STUDY = "study"
    """Parent and child: the study name."""
    ROLE = "role"
    """Parent and child: a :class:`Role`."""
    STUDY_STATUS = "study_status"
    """Parent: a :class:`StudyStatus`."""
    DATASET = "dataset"
    """Parent: the dataset's record name (``dsprites-procedural`` for the look-alike)."""
    GIT_SHA = "git_sha"
    """Parent: the commit the study ran ("unknown" outside a checkout)."""
    PRESET_OBJECTIVES = "preset_objectives"
    """Parent: the study's objectives, comma-separated."""
    TRIAL_ID = "trial_id"
    """Child: Ray Tune's trial id."""
    OPTUNA_TRIAL = "optuna_trial"
    """Child: the Optuna trial number (one per configuration, shared by its seeds)."""
    TRIAL_STATUS = "trial_status"
    """Child: a :class:`TrialStatus`."""
    ATTEMPTS = "attempts"
    """Child: how many times the trial's run was started (restarts resume the same run)."""
    FAILURE_REASON = "failure_reason"
    """Child: why the trial failed — the exception's type and first line and the attempt it ended
    (``"FileNotFoundError: ... (attempt 1 of 3; not retried: deterministic)"``)."""
    METRIC_PRESET = "metric_preset"
    """Child: the metric preset that scored the trial."""
    PRECISION = "precision"
    """Child: a :class:`Precision`, what the trial trained in (``trial.amp`` resolved on its node)."""
    METRIC_CODES = "metric_codes"
    """Child: where the factor metrics read codes from (pool, grid or live)."""
    HYPERPARAMETERS = "hyperparameters"
    """Child: the model type's searched hyperparameters as JSON, name → figure label (e.g.
    ``{"beta": "β"}``); their values are the run's params of those names."""
    DUPLICATE_OF = "duplicate_of"
    """Child: a duplicate run (a creation the client gave up on) taken out of its study, and the
    run kept for its trial."""
    PARENT_RUN = "mlflow.parentRunId"
    """Child: MLflow's own nesting tag, the parent run's id."""
    SOURCE_NAME = "mlflow.source.name"
    """Parent and child: MLflow's source tag (the run page's Source): the module that made the run."""
    SOURCE_TYPE = "mlflow.source.type"
    """Parent and child: MLflow's source type, ``LOCAL``."""
    SOURCE_COMMIT = "mlflow.source.git.commit"
    """Parent and child: the code's commit (found once by the driver), shown beside the Source."""


#: Every tag name a study writes, in the order of :class:`Tag`.
TAGS: tuple[str, ...] = tuple(v for k, v in vars(Tag).items() if k.isupper())

#: Key of every Tune report besides the metrics: 1 on the trial's last report, 0 before.
FINAL_REPORT_KEY = "final"


class Artifact:
    """Artifact paths of a trial's child run and of the parent run."""

    RECONSTRUCTIONS = "images/reconstructions.png"
    SAMPLES = "images/samples.png"
    TRAVERSALS = "images/traversals.png"
    IMAGES_DIR = "images"
    UDR_CODES = "codes/udr_codes.npz"
    """A trial's encoder means (``codes``, n × D) of the study's fixed UDR inputs and, for a model with
    a prior, their mean KL per dim (``kl``): what ``python -m analysis udr`` compares across seeds."""
    MODEL_DIR = "model"
    MODEL_FILE = "model.pt"
    LOGGED_MODEL = "model"
    """The MLflow logged model of the same name (``mlflow.pytorch.load_model("runs:/<id>/model")``);
    ``model/model.pt`` stays a run artifact for ``models.load_model``."""
    ANALYSIS_DIR = "analysis"


#: Suffix of the record name of a dataset rendered here as a look-alike of a published one.
PROCEDURAL_SUFFIX = "-procedural"
#: Suffix of a score's standard error: ``mig`` → ``mig_se``.
SE_SUFFIX = "_se"
#: Prefixes of the per-dimension KL (``kl_dim_<j>``) and of the training curves (``train/<term>``).
KL_DIM_PREFIX = "kl_dim_"
CURVE_PREFIX = "train/"
#: Prefix of the cheap estimates a trial reports at early-stopping rungs (``estimate/mig``, …).
ESTIMATE_PREFIX = "estimate/"
#: Prefix of a trial's seconds per phase (``timing/steps_s``, ``timing/scoring_s``, …), logged at the end.
TIMING_PREFIX = "timing/"
#: Prefix of MLflow's system metrics (``system/cpu_utilization_percentage``, …: the run page's System
#: metrics tab); the input context of the dataset a trial trains on.
SYSTEM_PREFIX = "system/"
DATASET_CONTEXT = "training"
#: Optuna study attribute: numbers of the trials asked but never launched (the driver died between
#: ask and launch), marked FAIL on restore — accounted for, not configurations that ran.
NEVER_LAUNCHED = "never_launched"
#: Numbers a trial logs that are bookkeeping, not scores (never objectives).
BOOKKEEPING: tuple[str, ...] = ("step", "images_per_second", "train_seconds", "steps_done")


def arrow(sense: str) -> str:
    """"↓" for a metric to minimise, "↑" for one to maximise (progress lines, axes, the report)."""
    return "↓" if sense == "min" else "↑"


def se_name(name: str) -> str:
    """The column of ``name``'s standard error: ``mig`` → ``mig_se``."""
    return f"{name}{SE_SUFFIX}"


def numeric_values(values: Mapping[str, Any]) -> dict[str, float]:
    """The entries that are numbers, as floats: what MLflow records as metrics and Tune as results
    (strings such as ``metric_preset`` become tags instead)."""
    return {k: float(v) for k, v in values.items() if isinstance(v, (int, float))}


def default_tracking_uri(root: str = "betasweep-runs") -> str:
    """$MLFLOW_TRACKING_URI if set, else the embedded SQLite store ``<root>/mlflow.db``."""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    return "sqlite:///" + os.path.join(os.path.abspath(root), "mlflow.db")


def swept_hyperparameters(tag_value: str | None) -> dict[str, str]:
    """The :attr:`Tag.HYPERPARAMETERS` tag read back: name → figure label ({} when absent)."""
    import json

    if not tag_value or not isinstance(tag_value, str):
        return {}
    try:
        value = json.loads(tag_value)
    except json.JSONDecodeError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def rung_metric(name: str) -> str:
    """What a trial reports for objective ``name`` at an early-stopping rung: the metric itself if
    it is reported while training (``val_recon_error``), else its cheap estimate ``estimate/<name>``."""
    return name if METRICS[name].intermediate else f"{ESTIMATE_PREFIX}{name}"
