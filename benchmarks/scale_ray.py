"""The driver at scale: a study of N trials on a simulated Ray cluster whose trials only track.

``ray.cluster_utils.Cluster`` starts a head that schedules only (``num_cpus=0``, as the cluster
head) and ``nodes`` raylets with many logical CPUs and GPUs each; a trial asks for 1 CPU and
``gpu`` of a GPU, as on the GPU cluster. The driver is the study's: its parent run
(:func:`study.driver._open_study_run`), its searcher (:class:`study.search.OptunaStudySearcher` on
the study folder's SQLite storage, the configured sampler), its progress callback (to a log file),
failure and checkpoint settings, and its end (the final sync of buffers, abandoned runs, the
study's status). Only the trainable differs: :func:`run_fake_trial` makes a real trial's tracking
calls (:mod:`benchmarks.scale_trial`) and reports to Tune at every curve batch and at the end.

Run one level per process (:func:`run_level_in_child`): the peak RSS it returns is that driver's.
"""

from __future__ import annotations

import json
import os
import resource
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis.schema import FINAL_REPORT_KEY, StudyStatus, Tag, TrialStatus
from benchmarks.scale_trial import RequestLog, TrialShape, run_calls
from study.search import OPTUNA_TRIAL, OVERRIDES, OptunaStudySearcher

LATENCY_DIR = "scale-latency"
#: Seconds of each ``suggest`` call of the driver's searcher, in this process.
SUGGEST_SECONDS: list[float] = []
_WORKER: dict[str, Any] = {}


class AppendLog:
    """A stream for the progress callback that Tune can pickle: appends to a file by its path."""

    def __init__(self, path: str):
        self.path = path

    def write(self, text: str) -> None:
        with open(self.path, "a") as handle:
            handle.write(text)

    def flush(self) -> None:
        pass


class TimedSearcher(OptunaStudySearcher):
    """The study's searcher, timing each suggestion the driver asks for."""

    def suggest(self, trial_id: str):
        start = time.perf_counter()
        try:
            return super().suggest(trial_id)
        finally:
            SUGGEST_SECONDS.append(time.perf_counter() - start)


@dataclass(frozen=True)
class FakeContext:
    """What a tracking-only trial needs: the study's records, the logging shape, the params."""

    study_name: str
    study_dir: str
    tracking_uri: str
    experiment: str
    parent_run_id: str
    shape: TrialShape
    templates: dict
    background: bool = True


def run_fake_trial(config: dict[str, Any], context: FakeContext) -> None:
    """Tune entry point: a real trial's tracking calls and reports, no training. Writes its
    records asked for and its HTTP request latencies to the study folder for the benchmark."""
    from ray import tune

    from benchmarks.surrogate import Surrogate
    from study.tracking import TrialTracker

    if not _WORKER:
        _WORKER.update(log=RequestLog(context.tracking_uri).install(), surrogate=Surrogate.from_csv())
    trial_id = tune.get_context().get_trial_id()
    overrides = config[OVERRIDES]
    params, hp_tag = context.templates[overrides["model_type"]]
    tracker = TrialTracker(context.tracking_uri, context.experiment, context.parent_run_id, context.study_name,
                           trial_id, buffer_dir=os.path.join(context.study_dir, "tracking-buffer", trial_id),
                           background=context.background)
    rng = np.random.default_rng(abs(hash(trial_id)) % 2**32)

    def report(curve):
        tune.report({**curve, Tag.TRIAL_STATUS: str(TrialStatus.RUNNING), FINAL_REPORT_KEY: 0})

    sent, scores = run_calls(tracker, {**params, **overrides}, {Tag.HYPERPARAMETERS: hp_tag}, config.get(OPTUNA_TRIAL),
                             overrides, context.shape, rng, _WORKER["surrogate"], report)
    seconds, errors = _WORKER["log"].take()
    with open(os.path.join(context.study_dir, LATENCY_DIR, f"{trial_id}.json"), "w") as handle:
        json.dump({"sent": sent.as_dict(), "request_seconds": seconds, "errors": errors}, handle)
    tune.report({"blur": scores["blur"], "mig": scores["mig"], Tag.TRIAL_STATUS: str(TrialStatus.COMPLETED),
                 FINAL_REPORT_KEY: 1, "step": float(scores["steps_done"])})


def study_config(name: str, root: str, uri: str, trials: int, sampler: str, concurrency: int, gpu: float):
    """The seed-dsprites search (model type, per-type β; objectives blur ↓, MIG ↑) at this size."""
    from study.config import make_config

    space = {"mode": "search", "model_types": ["ae", "vae", "beta_vae", "beta_tcvae"], "grid": [],
             "ranges": {"beta_vae": {"beta": [1, 16]}, "beta_tcvae": {"beta": [1, 16]}}, "seeds_per_config": 1}
    return make_config(preset="seed-dsprites", overrides={
        "name": name, "root": root, "tracking_uri": uri, "space": space,
        "search": {"num_trials": trials, "objectives": ["blur", "mig"], "sampler": sampler},
        "resources": {"cpus": 1, "gpus": gpu, "max_concurrent": concurrency, "max_failures": 0}})


def make_tuner(config, context: FakeContext, progress_log):
    """The driver's Tuner (study.driver._make_tuner) with the tracking-only trainable."""
    import functools

    from ray import tune

    from study import tracking
    from study.layout import OPTUNA_DB, TUNE_DIR
    from study.progress import StudyProgress

    searcher = TimedSearcher(
        study_name=config.name, storage=f"sqlite:///{os.path.join(config.study_dir, OPTUNA_DB)}",
        objectives=config.objective_directions(), space=config.space, sampler=config.search.sampler,
        sampler_seed=config.search.sampler_seed, constant_liar=config.search.constant_liar,
        history_limit=config.search.history_limit)
    trainable = tune.with_resources(tune.with_parameters(run_fake_trial, context=context),
                                    {"cpu": config.resources.cpus, "gpu": config.resources.gpus})
    progress = StudyProgress(config.objective_directions(), config.num_trials(), config.resources.max_concurrent,
                             mark_trial=functools.partial(tracking.mark_trial_status, context.tracking_uri,
                                                          context.parent_run_id), stream=progress_log)
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(search_alg=searcher, num_samples=config.num_trials(),
                                    max_concurrent_trials=config.resources.max_concurrent,
                                    reuse_actors=config.resources.reuse_actors),
        run_config=tune.RunConfig(name=TUNE_DIR, storage_path=config.study_dir,
                                  failure_config=tune.FailureConfig(max_failures=config.resources.max_failures),
                                  checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
                                  callbacks=[progress], verbose=0))


def start_cluster(nodes: int, cpus: int, gpus: int):
    """A head that only schedules and ``nodes`` raylets of ``cpus`` logical CPUs and ``gpus`` GPUs."""
    import ray
    from ray.cluster_utils import Cluster

    os.environ.pop("RAY_ADDRESS", None)
    os.environ["RAY_AUTH_MODE"] = "disabled"
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "num_gpus": 0})
    for _ in range(nodes):
        cluster.add_node(num_cpus=cpus, num_gpus=gpus)
    ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
    cluster.wait_for_nodes()
    return cluster


def run_level(args: dict) -> dict:
    """One study of ``args['trials']`` tracking-only trials; returns the driver's measurements."""
    import ray

    from study import tracking
    from study.config import check_cluster_resources
    from study.driver import _open_study_run
    from study.preflight import quiet_console

    quiet_console()
    config = study_config(args["name"], args["root"], args["uri"], args["trials"], args["sampler"],
                          args["concurrency"], args["gpu"])
    cluster = start_cluster(args["nodes"], args["cpus_per_node"], args["gpus_per_node"])
    try:
        check_cluster_resources(config, ray.cluster_resources())
        os.makedirs(os.path.join(config.study_dir, LATENCY_DIR), exist_ok=True)
        parent = _open_study_run(config, args["uri"], resume=False)
        context = FakeContext(config.name, config.study_dir, args["uri"], config.experiment, parent,
                              TrialShape(**args["shape"]), args["templates"], args.get("background", True))
        started = time.perf_counter()
        results = make_tuner(config, context, AppendLog(os.path.join(config.study_dir, "progress.log"))).fit()
        fit_seconds = time.perf_counter() - started
        started = time.perf_counter()
        replayed = tracking.sync_study(args["uri"], config.study_dir)
        duplicates = tracking.remove_duplicate_runs(args["uri"], parent)
        abandoned = tracking.close_abandoned(args["uri"], parent)
        tracking.set_study_status(args["uri"], parent, StudyStatus.COMPLETED)
        end_seconds = time.perf_counter() - started
    finally:
        ray.shutdown()
        cluster.shutdown()
    ends = sorted(r.metrics.get("timestamp", 0) for r in results if r.metrics)
    return {"parent": parent, "fit_seconds": fit_seconds, "end_seconds": end_seconds, "replayed": replayed,
            "abandoned": len(abandoned), "duplicates": len(duplicates),
            "errors": sum(r.error is not None for r in results),
            "trial_ends": ends, "suggest_seconds": list(SUGGEST_SECONDS), "study_dir": config.study_dir,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_level_in_child(args: dict) -> dict:
    """:func:`run_level` in a fresh process (its peak RSS is this study's driver alone)."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(run_level, args).result()


def trial_logs(study_dir: str) -> tuple[dict, list[float], list[str]]:
    """What the trials asked for (summed) and their HTTP request latencies and errors."""
    from benchmarks.scale_trial import Sent

    sent, seconds, errors = Sent(), [], []
    folder = os.path.join(study_dir, LATENCY_DIR)
    for name in os.listdir(folder):
        with open(os.path.join(folder, name)) as handle:
            data = json.load(handle)
        sent.add(Sent(**data["sent"]))
        seconds += data["request_seconds"]
        errors += data["errors"]
    return sent, seconds, errors
