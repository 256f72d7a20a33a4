"""The study driver: one parent run, a Ray Tune ``Tuner`` with the Optuna searcher, and the summary.

Flow: study folder (config, Optuna storage, Ray results, tracking buffer) → MLflow parent run →
Ray (local, or the cluster at ``--address`` / ``$RAY_ADDRESS``, which is what ``ray job submit``
sets) → resources checked against the cluster → ``Tuner`` with the Optuna searcher, optional
ASHA, per-trial resources, failure retries, checkpoints → summary table, Pareto front and figures
logged to the parent run → ``study_status=completed``. A resumed study continues from its folder:
unfinished trials resume from their checkpoints and their own MLflow child runs.
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Any

import yaml

from analysis.redaction import redact, redact_uri, without_secrets
from analysis.schema import Artifact, StudyStatus, Tag, default_tracking_uri
from study.config import StudyConfig, check_cluster_resources, saved_num_trials
from study.layout import CONFIG_FILE
from study.preflight import check_dataset, check_storage_reachable, check_tracking, ensure_ray, quiet_console
from study.trust import check_study_folder

log = logging.getLogger("betasweep")



def resolve_tracking_uri(config: StudyConfig) -> str:
    """--tracking-uri, else $MLFLOW_TRACKING_URI, else the embedded SQLite store in the root."""
    return config.tracking_uri or default_tracking_uri(os.path.abspath(config.root))


def run_study(config: StudyConfig, *, resume: bool = False) -> dict[str, Any]:
    """Run (or resume) a study; returns a summary dict (parent run id, counts, front, status).

    First of all the study's lock (:mod:`study.lock`: one driver per study), then the checks that
    need no cluster (the tracking server answers, the dataset opens), then Ray."""
    from study.lock import StudyLock

    with StudyLock(config.study_dir, config.name):
        return _run_locked(config, resume)


def _run_locked(config: StudyConfig, resume: bool) -> dict[str, Any]:
    from study import tracking
    from study.extend import plan_stages, save_stages

    quiet_console()
    tracking_uri = resolve_tracking_uri(config)
    if resume:
        check_study_folder(config.study_dir)  # what Tuner.restore unpickles: see study.trust
    stages, to_run = plan_stages(config, resume, saved_num_trials(os.path.join(config.study_dir, CONFIG_FILE))
                                 if resume else 0)
    check_tracking(tracking_uri, config.tracking_start_wait)
    check_dataset(config)
    _prepare_cluster_and_folder(config)
    commit = tracking.git_sha()  # once: every run records it as its source
    parent_run_id = _open_study_run(config, tracking_uri, resume, commit)
    with tracking.StudySystemMetrics(tracking_uri, parent_run_id):
        for stage, restore in to_run:  # a stage is recorded once those before it have ended
            save_stages(config.study_dir, stages[:stages.index(stage) + 1])
            tuner = _make_tuner(config, tracking_uri, parent_run_id, commit, stages, stage, restore)
            stopped = _fit(tuner, config, tracking_uri, parent_run_id)
            if stopped is not None:
                return {"name": config.name, "parent_run_id": parent_run_id, "tracking_uri": tracking_uri,
                        **stopped}
        return _finish(config, tracking_uri, parent_run_id)


def _fit(tuner, config: StudyConfig, tracking_uri: str, parent_run_id: str) -> dict[str, Any] | None:
    """Run one stage's trials; None when they ended, else how the study stopped: interrupted (with
    the resume hint) or failed on a full disk (one message; records kept; --resume once space is back)."""
    from study import tracking
    from study.outcome import InterruptWatch, disk_full, disk_full_message, resume_hint

    try:
        with InterruptWatch() as watch:
            tuner.fit()
    except Exception as exc:
        if tracking.wait_until_reachable(tracking_uri, timeout=30):
            tracking.set_study_status(tracking_uri, parent_run_id, StudyStatus.FAILED)
        if not disk_full(exc):
            raise
        print(disk_full_message(config.name, config.root, exc), flush=True)
        return {"status": str(StudyStatus.FAILED), "disk_full": True}
    if watch.interrupted:
        tracking.set_study_status(tracking_uri, parent_run_id, StudyStatus.INTERRUPTED)
        print(resume_hint(config.name, config.root), flush=True)
        return {"status": str(StudyStatus.INTERRUPTED)}
    return None


def _prepare_cluster_and_folder(config: StudyConfig) -> None:
    """Join Ray, refuse what this cluster cannot run, and save the config in the study folder."""
    import ray

    ensure_ray(config)
    check_cluster_resources(config, ray.cluster_resources())
    check_storage_reachable(config.study_dir)
    save_config(config)


def save_config(config: StudyConfig) -> str:
    """``<study>/config.yaml``, what ``--resume`` reads: redacted (its ``secrets:`` fields and URI
    passwords are ``***``; a resumed study is given them again)."""
    os.makedirs(config.study_dir, mode=0o700, exist_ok=True)
    os.chmod(config.study_dir, 0o700)  # its saved state is loaded at --resume: the user's alone (study.trust)
    path = os.path.join(config.study_dir, CONFIG_FILE)
    with open(path, "w") as handle:
        yaml.safe_dump(redact(config.to_dict(), config.secrets), handle, sort_keys=False)
    return path


def _open_study_run(config: StudyConfig, tracking_uri: str, resume: bool, commit: str | None = None) -> str:
    """The study's MLflow parent run (the existing one on resume), marked running."""
    from study import tracking

    parent_run_id = tracking.find_study_run(tracking_uri, config.experiment, config.name) if resume else None
    if parent_run_id is None:
        parent_run_id = tracking.start_study_run(
            tracking_uri, config.experiment, config.name,
            params=_flatten(without_secrets(config.to_dict(), config.secrets)),
            tags={Tag.DATASET: config.trial.dataset, Tag.PRESET_OBJECTIVES: ",".join(config.search.objectives)},
            data_root=config.trial.data_root, commit=commit,
        )
    tracking.set_study_status(tracking_uri, parent_run_id, StudyStatus.RUNNING)
    print(f"[betasweep] study {config.name}: {config.num_trials()} trials, objectives "
          f"{config.objective_directions()}; MLflow parent run {parent_run_id} at {redact_uri(tracking_uri)}",
          flush=True)
    return parent_run_id


def _make_tuner(config: StudyConfig, tracking_uri: str, parent_run_id: str, commit: str, stages, stage, restore):
    """The Tuner of one stage (:mod:`study.extend`): the trainable with the study context and
    resources, the searcher and scheduler (or the saved state of an interrupted stage), the progress."""
    from ray import tune

    from study import tracking
    from study.extend import make_searcher
    from study.progress import StudyProgress
    from study.trainable import StudyContext, run_trial

    context = StudyContext(
        study_name=config.name, study_dir=config.study_dir,
        trial=config.trial.with_updates(estimate_at=rungs(config)),
        tracking_uri=tracking_uri, experiment=config.experiment, parent_run_id=parent_run_id,
        cpus=config.resources.cpus, gpus=config.resources.gpus, secrets=config.secrets, commit=commit,
        max_failures=config.resources.max_failures,
    )
    trainable = tune.with_resources(tune.with_parameters(run_trial, context=context),
                                    {"cpu": config.resources.cpus, "gpu": config.resources.gpus})
    if restore:
        return tune.Tuner.restore(os.path.join(config.study_dir, stage.tune_dir), trainable,
                                  resume_unfinished=True, resume_errored=True)
    progress = StudyProgress(
        config.objective_directions(), stage.trials, config.resources.max_concurrent,
        mark_trial=functools.partial(tracking.mark_trial_status, tracking_uri, parent_run_id),
    )
    number = stages.index(stage) + 1
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=make_searcher(config, stages, number, tracking_uri, parent_run_id),
            scheduler=_scheduler(config), num_samples=stage.trials,
            max_concurrent_trials=config.resources.max_concurrent,
            reuse_actors=config.resources.reuse_actors,
        ),
        run_config=tune.RunConfig(
            name=stage.tune_dir, storage_path=config.study_dir,
            failure_config=tune.FailureConfig(max_failures=config.resources.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
            callbacks=[progress], verbose=0,
        ),
    )


def _scheduler(config: StudyConfig):
    """Early stopping when ``search.asha`` is on, else None (FIFO). With one objective: ASHA on
    ``search.asha_metric``; with several: multi-objective ASHA (:class:`study.schedulers.
    MultiObjectiveASHA`) on the estimates of every objective the trials report at its rungs
    (:func:`rungs`), so a trial good in one objective is not pruned for being poor in another.
    Either way a trial that reaches the last step is never stopped: its final report must arrive."""
    from ray.tune.schedulers import ASHAScheduler

    from analysis.schema import rung_metric
    from study.schedulers import MultiObjectiveASHA

    search = config.search
    if not search.asha:
        return None
    if len(search.objectives) > 1:
        return MultiObjectiveASHA(
            {rung_metric(name): sense for name, sense in config.objective_directions().items()},
            time_attr="step", max_t=config.trial.steps, grace_period=search.asha_grace_steps,
            reduction_factor=search.asha_reduction_factor)
    return ASHAScheduler(
        time_attr="step", metric=search.asha_metric,
        mode=config.objective_directions().get(search.asha_metric, "min"),
        max_t=config.trial.steps, grace_period=search.asha_grace_steps,
        reduction_factor=search.asha_reduction_factor, stop_last_trials=False,
    )


def rungs(config: StudyConfig) -> tuple[int, ...]:
    """The steps where multi-objective early stopping compares trials (empty when it is off)."""
    from study.schedulers import rung_levels

    search = config.search
    if not search.asha or len(search.objectives) < 2:
        return ()
    return tuple(rung_levels(search.asha_grace_steps, search.asha_reduction_factor, config.trial.steps))


def _finish(config: StudyConfig, tracking_uri: str, parent_run_id: str) -> dict[str, Any]:
    """After the trials: send buffered records, close abandoned runs, summarise, mark completed
    (or, with the server still down, say how to finish later and leave the study open)."""
    from study import tracking

    study_dir = config.study_dir
    try:
        if not tracking.wait_until_reachable(tracking_uri, timeout=config.tracking_wait):
            raise ConnectionError(f"MLflow at {redact_uri(tracking_uri)} is unreachable")
        replayed = tracking.sync_study(tracking_uri, study_dir, timeout=config.tracking_wait)
    except Exception as exc:
        if not tracking.unreachable(exc):
            raise
        print(f"[betasweep] all trials ended but MLflow at {redact_uri(tracking_uri)} did not take their records; they "
              f"are kept in {study_dir}/tracking-buffer. When it answers, run: python -m "
              f"study.sync {study_dir} && python -m analysis pareto --study {config.name}", flush=True)
        return {"name": config.name, "parent_run_id": parent_run_id, "tracking_uri": tracking_uri,
                "synced": False}
    if replayed:
        print(f"[betasweep] sent {replayed} tracking call(s) the trials had not sent", flush=True)
    tracking.remove_duplicate_runs(tracking_uri, parent_run_id)
    abandoned = tracking.close_abandoned(tracking_uri, parent_run_id)
    if abandoned:
        print(f"[betasweep] trial attempts lost with the previous driver, marked abandoned: {abandoned}",
              flush=True)
    summary = summarize(config, tracking_uri, parent_run_id)
    status = StudyStatus.COMPLETED if summary["ok"] else StudyStatus.FAILED
    tracking.set_study_status(tracking_uri, parent_run_id, status)
    if status == StudyStatus.FAILED:
        print(f"[betasweep] study {config.name} failed: none of its {config.num_trials()} trials completed; "
              f"the reasons are above and in each trial run's {Tag.FAILURE_REASON} tag", flush=True)
    return {**summary, "status": str(status)}


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested config → dotted param names (``trial.lr``), the parent run's params."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def summarize(config: StudyConfig, tracking_uri: str, parent_run_id: str) -> dict[str, Any]:
    """Print the summary table and the Pareto-optimal trials; log the analysis to the parent run."""
    from analysis.pareto import pareto_front
    from analysis.runs import load_runs
    from study.progress import summary_table

    objectives = config.objective_directions()
    df = load_runs(config.name, tracking_uri=tracking_uri, experiment=config.experiment)
    ok = df[df["ok"]] if "ok" in df.columns else df
    front = pareto_front(ok.dropna(subset=list(objectives)), objectives) if len(ok) else ok
    front_ids = set(front["run_id"]) if len(front) else set()
    print("\n[betasweep] trials (* = Pareto-optimal):", flush=True)
    print(summary_table(df, objectives, front_ids), flush=True)
    summary = {
        "name": config.name, "parent_run_id": parent_run_id, "tracking_uri": tracking_uri,
        "trials": int(len(df)), "ok": int(len(ok)), "front_run_ids": sorted(front_ids),
    }
    try:
        from analysis.report import write_report

        out = os.path.join(config.study_dir, Artifact.ANALYSIS_DIR)
        write_report(df, objectives, out, study=config.name, tracking_uri=tracking_uri)
        from study.tracking import log_study_artifacts

        log_study_artifacts(tracking_uri, parent_run_id, out, artifact_path=Artifact.ANALYSIS_DIR)
        summary["report"] = out
        print(f"[betasweep] analysis written to {out} and logged to the parent run", flush=True)
    except Exception as exc:  # the study's results are safe in MLflow; the figures can be redrawn
        log.warning("could not write the analysis report (%s); run `python -m analysis pareto "
                    "--study %s` to draw it", exc, config.name)
    from mlflow.tracking import MlflowClient

    from analysis.runs import browse_hint

    experiment_id = MlflowClient(tracking_uri).get_run(parent_run_id).info.experiment_id
    print(f"[betasweep] browse: {browse_hint(tracking_uri, experiment_id)}\n"
          f"[betasweep] analyse: python -m analysis pareto --study {config.name} "
          f"--tracking-uri {redact_uri(tracking_uri)}; what it shows, by fixed rules: python -m analysis "
          f"tradeoff --study {config.name} --tracking-uri {redact_uri(tracking_uri)}", flush=True)
    return summary
