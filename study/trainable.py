"""The Ray Tune function trainable: one trial inside a Ray worker, tracked in MLflow.

It wraps :func:`train.trial.train_and_evaluate`: the trial reports curves to Tune and MLflow at
every report, hands checkpoints to Tune (which persists them to the study's storage), and on a
restart (a crashed worker, a lost node, a resumed study) continues from ``tune.get_checkpoint()``
and from its own MLflow child run, whose id travels inside the checkpoint. The final report
carries the scores Optuna is told, plus ``final=1`` so the searcher can tell a finished trial from
one an early-stopping scheduler cut short.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from typing import Any

from analysis.redaction import without_secrets
from analysis.schema import CATALOGUE, FINAL_REPORT_KEY, Tag, TrialStatus, numeric_values
from study.search import OPTUNA_TRIAL, OVERRIDES
from train.coercion import apply_overrides
from train.config import TrialConfig
from train.validation import validate_trial

log = logging.getLogger(__name__)

RUN_ID = "mlflow_run_id"


@dataclass(frozen=True)
class StudyContext:
    """What every trial needs to know about its study (shipped once through the object store)."""

    study_name: str
    study_dir: str
    trial: TrialConfig
    tracking_uri: str
    experiment: str
    parent_run_id: str
    cpus: float = 1.0
    gpus: float = 0.0
    secrets: tuple[str, ...] = ()
    commit: str = "unknown"
    """The code's commit, found once by the driver: the runs' MLflow source."""
    max_failures: int = 2
    """Retries of a crashed trial (Tune's FailureConfig): a failure reason says which attempt ended."""


def trial_config(context: StudyContext, overrides: dict[str, Any]) -> TrialConfig:
    """The trial's config: the study's typed template with the searcher's overrides (coerced to
    the fields' types, then validated) and the trial's resources."""
    config = apply_overrides(context.trial, overrides)
    validate_trial(config, "trial")
    return config.with_updates(gpus=context.gpus, num_threads=config.num_threads or max(1, int(context.cpus)))


def logged_params(config: TrialConfig, secrets: tuple[str, ...]) -> dict[str, Any]:
    """Trial params for MLflow: the trial config's keys as names, with the model type's own
    settings (its declared hyperparameters, resolved, e.g. ``beta``) in place of ``model_params``;
    no secrets."""
    from train.trial_run import model_settings_for

    params = {k: v for k, v in dataclasses.asdict(config).items() if k != "model_params"}
    params.update(model_settings_for(config))
    return {k: v for k, v in without_secrets(params, secrets).items() if v is not None}


def hyperparameters_tag(config: TrialConfig) -> str:
    """The :attr:`Tag.HYPERPARAMETERS` value of the trial's model type: name → figure label."""
    from train.model_types import model_classes

    return json.dumps({hp.name: hp.label for hp in model_classes()[config.model_type].hyperparameters},
                      ensure_ascii=False)


def run_trial(config: dict[str, Any], context: StudyContext) -> None:
    """Tune entry point (function API): train, report, checkpoint, score, log.

    Tune calls this in a runner thread of the worker process; :func:`train.trial_run.setup` sets
    flush-to-zero there before any parallel op, so the intra-op pool that thread starts flushes
    denormals in every worker (tests/train/test_flush_denormal.py checks it inside Ray)."""
    from ray import tune

    from train.steps import Report
    from train.timings import Timings
    from train.trial import train_and_evaluate

    around = Timings()  # the trainable's own phases; the trial's come back in result.timings
    with around.phase("tracking_start"):
        tracker, trial, resume_from, run_id = _start(config, context)
    with tempfile.TemporaryDirectory(prefix=f"betasweep-{tracker.trial_id}-") as ckpt_root:

        latest = {m.name: float("nan") for m in CATALOGUE if m.intermediate}

        def report(rep: Report) -> None:
            if rep.final:
                return
            latest.update(rep.metrics)
            tracker.log_metrics(rep.metrics, step=rep.step)
            ckpt = tune.Checkpoint.from_directory(rep.checkpoint) if rep.checkpoint else None
            tune.report({**rep.metrics, Tag.TRIAL_STATUS: str(TrialStatus.RUNNING), FINAL_REPORT_KEY: 0},
                        checkpoint=ckpt)

        try:
            result = train_and_evaluate(trial, checkpoint_dir=ckpt_root, resume_from=resume_from,
                                        callback=report, extra_state={RUN_ID: run_id},
                                        artifact_dir=os.path.join(ckpt_root, "artifacts"),
                                        secrets=context.secrets,
                                        on_setup=lambda run: _log_dataset(tracker, run, context))
        except Exception as exc:
            if not _failed(tracker, exc, context, latest):
                raise  # Tune retries it (FailureConfig), from its last checkpoint
            return
        # The final report repeats the last intermediate values (NaN before the first report): an
        # early-stopping scheduler sees it too, and Tune requires its metric in every result.
        final = {**latest, Tag.TRIAL_STATUS: str(result.status), FINAL_REPORT_KEY: 1, "step": float(result.step)}
        with around.phase("final_logging"):
            if result.status == TrialStatus.COMPLETED:  # files first: scores, timings, status go as one batch
                tracker.log_artifacts(result.artifacts)
                _log_model(tracker, result, ckpt_root, context.commit)
                tracker.log_final(result.scores)
                final.update(numeric_values(result.scores))
        timings = {**result.timings.metrics(), **around.metrics()}
        tracker.log_metrics(timings, step=result.step, final=True)
        tracker.finish(result.status)
        ckpt = tune.Checkpoint.from_directory(result.checkpoint) if result.checkpoint else None
        tune.report({**final, **timings}, checkpoint=ckpt)


def _failed(tracker, exc: Exception, context: StudyContext, latest: dict[str, float]) -> bool:
    """Record why the trial failed on its run (:attr:`Tag.FAILURE_REASON`: the error and the
    attempt). A deterministic error (a missing file, a config error) or a full disk (ENOSPC: a retry
    would meet it again) ends the trial here, failed and not retried (True: a final report, Optuna
    told FAIL); any other is left to Tune's retries."""
    from ray import tune

    from study.outcome import ends_now, reason_with_attempt

    reason = reason_with_attempt(exc, tracker.attempts, context.max_failures)
    log.error("trial failed: %s", reason)
    tracker.set_tags({Tag.FAILURE_REASON: reason})
    if not ends_now(exc):
        try:
            tracker.wait_sent(10.0)
        except Exception as send_error:  # the reason is a courtesy; the error itself goes to Tune
            log.warning("failure reason not recorded in MLflow: %s", send_error)
        return False
    tracker.finish(TrialStatus.FAILED)
    tune.report({**latest, Tag.TRIAL_STATUS: str(TrialStatus.FAILED), Tag.FAILURE_REASON: reason,
                 FINAL_REPORT_KEY: 1, "step": 0.0})
    return True


def _log_dataset(tracker, run, context: StudyContext) -> None:
    """The trial's dataset as its run's input (a failure costs the record, never the trial)."""
    from study.tracking import dataset_record
    from train.data import record_name

    config = run.config
    try:
        tracker.log_dataset(dataset_record(run.data, record_name(config.dataset, config.data_root),
                                           config.data_root, context.commit))
    except Exception as exc:
        log.warning("dataset not recorded as the run's input: %s", exc)


def _log_model(tracker, result, folder: str, commit: str) -> None:
    """The trained model (rebuilt from its model file) as the run's MLflow logged model."""
    from analysis.schema import Artifact
    from models import load_model
    from study.tracking import TRIAL_SOURCE, logged_model_params, save_logged_model, source_tags

    model_file = result.artifacts.get(f"{Artifact.MODEL_DIR}/{Artifact.MODEL_FILE}")
    if model_file is None:
        return
    try:
        model = load_model(model_file)
        path = save_logged_model(model, os.path.join(folder, "logged-model"))
    except Exception as exc:
        log.warning("model not logged in MLflow's format (model/model.pt is): %s", exc)
        return
    tracker.log_model(path, logged_model_params(model), model.model_type, step=result.step,
                      tags=source_tags(TRIAL_SOURCE, commit))


def _start(config: dict[str, Any], context: StudyContext):
    """The trial's typed config, its tracker with the child run started (or continued after a
    restart, from the run id inside the checkpoint), and the checkpoint to resume from."""
    from ray import tune

    from study.tracking import TRIAL_SOURCE, TrialTracker, source_tags
    from train.trial_run import precision_for

    trial = trial_config(context, config[OVERRIDES])
    trial_id = tune.get_context().get_trial_id()
    resume_from, run_id = _resume_point(tune.get_checkpoint())
    tracker = TrialTracker(
        tracking_uri=context.tracking_uri,
        experiment=context.experiment,
        parent_run_id=context.parent_run_id,
        study_name=context.study_name,
        trial_id=trial_id,
        run_id=run_id,
        buffer_dir=os.path.join(context.study_dir, "tracking-buffer", trial_id),
        secrets=context.secrets,
    )
    run_id = tracker.start(logged_params(trial, context.secrets), optuna_trial=config.get(OPTUNA_TRIAL),
                           extra_tags={Tag.HYPERPARAMETERS: hyperparameters_tag(trial),
                                       Tag.PRECISION: str(precision_for(trial)),
                                       **source_tags(TRIAL_SOURCE, context.commit)})
    return tracker, trial, resume_from, run_id


def _resume_point(checkpoint) -> tuple[str | None, str | None]:
    """The checkpoint a restarted trial continues from and its MLflow run id: Tune's latest if it
    loads, else (with a warning naming it) the newest older one of the trial that does; (None,
    None) when there is none, or none loads (the trial starts over)."""
    from train.checkpoints import checkpoints_in, newest_loadable

    if checkpoint is None:
        return None, None
    path = checkpoint.path
    if os.path.isdir(path):  # the study's storage is a filesystem path: Tune's older checkpoints are siblings
        older = [p for p in checkpoints_in(os.path.dirname(path)) if os.path.basename(p) < os.path.basename(path)]
        candidates = [path, *older]
    else:
        candidates = [checkpoint.to_directory()]
    found = newest_loadable(candidates)
    if found is None:
        log.warning("no checkpoint of this trial loads (%s); it starts over", ", ".join(candidates))
        return None, None
    resume_from, _, meta = found
    return resume_from, meta.get("extra", {}).get(RUN_ID)
