"""``python -m study.run``: a hyperparameter study of VAE-family models on Ray Tune + Optuna + MLflow.

Flow: CLI → validated :class:`~study.config.StudyConfig` (errors name the field, before any Ray or
MLflow work) → study folder (config, Optuna storage, Ray results, tracking buffer) → MLflow parent
run → Ray (local, or the cluster at ``--address`` / ``$RAY_ADDRESS``, which is what ``ray job
submit`` sets) → resources checked against the cluster → ``Tuner`` with the Optuna searcher,
optional ASHA, per-trial resources, failure retries, checkpoints → summary table, Pareto front and
figures logged to the parent run → ``study_status=completed``.

``--resume NAME`` continues an interrupted study from its folder: unfinished trials resume from
their checkpoints and their own MLflow child runs; nothing is lost or counted twice.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import functools
import logging
import os
import sys
from typing import Any

import yaml

from analysis.schema import Artifact, StudyStatus, Tag, default_tracking_uri, without_secrets
from study.config import (
    ConfigError,
    ResourcesConfig,
    SearchConfig,
    SpaceConfig,
    StudyConfig,
    TrialConfig,
    check_cluster_resources,
    field_docs,
    from_dict,
    load_yaml,
    make_config,
    preset_names,
    set_dotted,
)

log = logging.getLogger("betasweep")

CONFIG_FILE = "config.yaml"
TUNE_DIR = "tune"
OPTUNA_DB = "optuna.db"

# CLI flag → (dotted config path, config class holding the field's docstring, kind)
_FLAGS: list[tuple[str, str, type, str]] = [
    ("--name", "name", StudyConfig, "str"),
    ("--root", "root", StudyConfig, "str"),
    ("--experiment", "experiment", StudyConfig, "str"),
    ("--tracking-uri", "tracking_uri", StudyConfig, "str"),
    ("--address", "address", StudyConfig, "str"),
    ("--num-trials", "search.num_trials", SearchConfig, "int"),
    ("--objectives", "search.objectives", SearchConfig, "list"),
    ("--sampler", "search.sampler", SearchConfig, "str"),
    ("--asha", "search.asha", SearchConfig, "flag"),
    ("--mode", "space.mode", SpaceConfig, "str"),
    ("--model-types", "space.model_types", SpaceConfig, "list"),
    ("--beta-min", "space.beta_min", SpaceConfig, "float"),
    ("--beta-max", "space.beta_max", SpaceConfig, "float"),
    ("--latent-dims", "space.latent_dims", SpaceConfig, "list"),
    ("--seeds-per-config", "space.seeds_per_config", SpaceConfig, "int"),
    ("--seed-as-param", "space.seed_as_param", SpaceConfig, "flag"),
    ("--cpus", "resources.cpus", ResourcesConfig, "float"),
    ("--gpus", "resources.gpus", ResourcesConfig, "float"),
    ("--max-concurrent", "resources.max_concurrent", ResourcesConfig, "int"),
    ("--max-failures", "resources.max_failures", ResourcesConfig, "int"),
    ("--dataset", "trial.dataset", TrialConfig, "str"),
    ("--data-root", "trial.data_root", TrialConfig, "str"),
    ("--architecture", "trial.architecture", TrialConfig, "str"),
    ("--steps", "trial.steps", TrialConfig, "int"),
    ("--batch-size", "trial.batch_size", TrialConfig, "int"),
    ("--lr", "trial.lr", TrialConfig, "float"),
    ("--metrics", "trial.metrics", TrialConfig, "str"),
]


def build_parser() -> argparse.ArgumentParser:
    """The CLI; every config option's help is the docstring of its config field."""
    parser = argparse.ArgumentParser(
        prog="python -m study.run",
        description="Run a hyperparameter study of AE / VAE / β-VAE / β-TCVAE models: Ray Tune "
                    "schedules the trials, Optuna searches (multi-objective), MLflow records them.",
        epilog="Precedence: preset < --config YAML < --set < the options above. "
               "Example: python -m study.run --preset quick --num-trials 4 --steps 300",
    )
    parser.add_argument("--preset", default="quick",
                        help=f"Named preset to start from: {', '.join(preset_names())} (default: quick).")
    parser.add_argument("--config", default=None, help="YAML file with study fields (yaml.safe_load).")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="Override any field by its dotted path, e.g. --set trial.latent_dim=8 "
                             "(value parsed as YAML). Repeatable.")
    for flag, path, cls, kind in _FLAGS:
        doc = field_docs(cls).get(path.split(".")[-1], "")
        if kind == "flag":
            parser.add_argument(flag, dest=path, action="store_const", const=True, default=None, help=doc)
        else:
            parser.add_argument(flag, dest=path, default=None, metavar=kind.upper(),
                                help=doc + (" Comma-separated." if kind == "list" else ""))
    parser.add_argument("--resume", metavar="NAME", default=None,
                        help="Continue the interrupted study NAME from its folder under --root "
                             "(its saved config is used; other options are ignored).")
    parser.add_argument("--dry-run", action="store_true",
                        help="Print the resolved config and search space, then exit without running.")
    return parser


def config_from_args(args: argparse.Namespace) -> StudyConfig:
    """Preset → --config → --set → flags, validated once at the end."""
    overrides: dict[str, Any] = {}
    for item in args.sets:
        if "=" not in item:
            raise ConfigError(f"--set: {item!r} is not KEY=VALUE; write e.g. --set trial.steps=500")
        key, value = item.split("=", 1)
        overrides = set_dotted(overrides, key.strip(), yaml.safe_load(value))
    for _flag, path, _cls, kind in _FLAGS:
        value = getattr(args, path)
        if value is None:
            continue
        if kind == "list":
            value = [v.strip() for v in str(value).split(",") if v.strip()]
        overrides = set_dotted(overrides, path, value)
    if "name" not in overrides:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        overrides["name"] = f"{args.preset or 'study'}-{stamp}"
    overrides.setdefault("root", os.environ.get("BETASWEEP_ROOT", "betasweep-runs"))
    return make_config(args.preset, args.config, overrides)


def resolve_tracking_uri(config: StudyConfig) -> str:
    """--tracking-uri, else $MLFLOW_TRACKING_URI, else the embedded SQLite store in the root."""
    return config.tracking_uri or default_tracking_uri(os.path.abspath(config.root))


def print_plan(config: StudyConfig, tracking_uri: str) -> None:
    """The resolved config and the search space (``--dry-run``)."""
    from study.space import describe

    print(yaml.safe_dump(config.to_dict(), sort_keys=False).rstrip())
    print("\n# search space")
    for line in describe(config.space):
        print("#   " + line)
    print(f"# trials: {config.num_trials()}; objectives: {config.objective_directions()}")
    print(f"# study folder: {config.study_dir}\n# tracking: {tracking_uri}", flush=True)


def quiet_console() -> None:
    """The driver prints the study's own lines only: no Tune banner or status tables (its legacy
    reporter at verbose=0 is silent), no INFO chatter from Ray's loggers, no MLflow download
    progress bars; Ray stays usable without a token (``RAY_AUTH_MODE``). Each is a default the
    user can override from the environment."""
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in ("ray", "ray.tune", "ray.train"):
        logging.getLogger(name).setLevel(logging.WARNING)


def ensure_ray(config: StudyConfig) -> None:
    """Join the cluster (``--address``/``$RAY_ADDRESS``) or start a local Ray instance."""
    import ray

    if ray.is_initialized():
        return
    address = config.address or os.environ.get("RAY_ADDRESS")
    # Trial processes' own output (Ray's checkpoint notices, library warnings) stays in Ray's log
    # files; the driver prints the study's progress lines, and a failing trial's error reaches it
    # through Tune.
    if address and address != "local":
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    else:
        ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)


def _probe_storage(root: str) -> str | None:
    """On one node: can this node create and write files under the study root? None if yes."""
    import socket
    import uuid

    try:
        os.makedirs(root, exist_ok=True)
        probe = os.path.join(root, f".probe-{socket.gethostname()}-{uuid.uuid4().hex[:8]}")
        with open(probe, "w") as handle:
            handle.write("ok")
        os.remove(probe)
        return None
    except OSError as exc:
        return f"{type(exc).__name__}: {exc.strerror or exc}"


def check_storage_reachable(root: str) -> None:
    """Refuse a study root that some alive Ray node cannot write (e.g. a node-local path on a
    multi-node cluster, where a trial restarted elsewhere could not find its checkpoints)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    probe = ray.remote(num_cpus=0)(_probe_storage)
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    refs = [probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote(root)
            for n in nodes]
    for node, error in zip(nodes, ray.get(refs, timeout=120), strict=True):
        if error:
            raise ConfigError(
                f"root: {root!r} is not writable from Ray node {node['NodeManagerAddress']} "
                f"({error}); use a folder every node mounts at the same path (NFS/EFS or an "
                f"S3-backed mount), e.g. --root /mnt/shared/betasweep-runs")


def run_study(config: StudyConfig, *, resume: bool = False) -> dict[str, Any]:
    """Run (or resume) a study; returns a summary dict (parent run id, counts, front)."""
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    from study import tracking
    from study.progress import StudyProgress
    from study.search import OptunaStudySearcher
    from study.trainable import StudyContext, run_trial

    quiet_console()
    study_dir = config.study_dir
    tune_path = os.path.join(study_dir, TUNE_DIR)
    tracking_uri = resolve_tracking_uri(config)
    if resume and not tune.Tuner.can_restore(tune_path):
        raise ConfigError(f"resume: no restorable study state in {tune_path}; "
                          f"check --root and the study name, or start a new study without --resume")
    ensure_ray(config)
    check_cluster_resources(config, ray.cluster_resources())
    check_storage_reachable(study_dir)
    os.makedirs(study_dir, exist_ok=True)
    with open(os.path.join(study_dir, CONFIG_FILE), "w") as handle:
        yaml.safe_dump(config.to_dict(), handle, sort_keys=False)

    parent_run_id = tracking.find_study_run(tracking_uri, config.experiment, config.name) if resume else None
    if parent_run_id is None:
        parent_run_id = tracking.start_study_run(
            tracking_uri, config.experiment, config.name,
            params=_flatten(without_secrets(config.to_dict(), config.secrets)),
            tags={Tag.DATASET: config.trial.dataset, Tag.PRESET_OBJECTIVES: ",".join(config.search.objectives)},
        )
    tracking.set_study_status(tracking_uri, parent_run_id, StudyStatus.RUNNING)
    print(f"[betasweep] study {config.name}: {config.num_trials()} trials, objectives "
          f"{config.objective_directions()}; MLflow parent run {parent_run_id} at {tracking_uri}",
          flush=True)

    context = StudyContext(
        study_name=config.name, study_dir=study_dir, trial=dataclasses.asdict(config.trial),
        tracking_uri=tracking_uri, experiment=config.experiment, parent_run_id=parent_run_id,
        cpus=config.resources.cpus, gpus=config.resources.gpus, secrets=config.secrets,
    )
    trainable = tune.with_resources(
        tune.with_parameters(run_trial, context=context),
        {"cpu": config.resources.cpus, "gpu": config.resources.gpus},
    )
    progress = StudyProgress(
        config.objective_directions(), config.num_trials(), config.resources.max_concurrent,
        mark_trial=functools.partial(tracking.mark_trial_status, tracking_uri, parent_run_id),
    )
    if resume:
        tuner = tune.Tuner.restore(tune_path, trainable, resume_unfinished=True, resume_errored=True)
    else:
        searcher = OptunaStudySearcher(
            study_name=config.name, storage=f"sqlite:///{os.path.join(study_dir, OPTUNA_DB)}",
            objectives=config.objective_directions(), space=config.space,
            sampler=config.search.sampler, sampler_seed=config.search.sampler_seed,
        )
        scheduler = None
        if config.search.asha:
            scheduler = ASHAScheduler(
                time_attr="step", metric=config.search.asha_metric,
                mode=config.objective_directions().get(config.search.asha_metric, "min"),
                max_t=config.trial.steps, grace_period=config.search.asha_grace_steps,
                reduction_factor=config.search.asha_reduction_factor,
            )
        tuner = tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(
                search_alg=searcher, scheduler=scheduler, num_samples=config.num_trials(),
                max_concurrent_trials=config.resources.max_concurrent,
                reuse_actors=config.resources.reuse_actors,
            ),
            run_config=tune.RunConfig(
                name=TUNE_DIR, storage_path=study_dir,
                failure_config=tune.FailureConfig(max_failures=config.resources.max_failures),
                checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
                callbacks=[progress], verbose=0,
            ),
        )
    try:
        tuner.fit()
    except Exception:
        if tracking.wait_until_reachable(tracking_uri, timeout=30):
            tracking.set_study_status(tracking_uri, parent_run_id, StudyStatus.FAILED)
        raise
    if not tracking.wait_until_reachable(tracking_uri, timeout=config.tracking_wait):
        print(f"[betasweep] all trials ended but MLflow at {tracking_uri} is unreachable; their "
              f"records are kept in {study_dir}/tracking-buffer. When it is back, run: python -m "
              f"study.sync {study_dir} && python -m analysis pareto --study {config.name}", flush=True)
        return {"name": config.name, "parent_run_id": parent_run_id, "tracking_uri": tracking_uri,
                "synced": False}
    replayed = tracking.sync_study(tracking_uri, study_dir)
    if replayed:
        print(f"[betasweep] sent {replayed} tracking call(s) buffered during an MLflow outage", flush=True)
    abandoned = tracking.close_abandoned(tracking_uri, parent_run_id)
    if abandoned:
        print(f"[betasweep] trial attempts lost with the previous driver, marked abandoned: {abandoned}",
              flush=True)
    summary = summarize(config, tracking_uri, parent_run_id)
    tracking.set_study_status(tracking_uri, parent_run_id, StudyStatus.COMPLETED)
    return summary


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
          f"--tracking-uri {tracking_uri}", flush=True)
    return summary


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; exit 2 on a configuration error (message names the field and the fix)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        if args.resume:
            root = args.root or os.environ.get("BETASWEEP_ROOT", "betasweep-runs")
            saved = os.path.join(os.path.abspath(root), args.resume, CONFIG_FILE)
            if not os.path.isfile(saved):
                raise ConfigError(f"resume: no study {args.resume!r} under {os.path.abspath(root)} "
                                  f"({saved} missing); check --root and the name")
            config = from_dict(load_yaml(saved))
        else:
            config = config_from_args(args)
        if args.dry_run:
            print_plan(config, resolve_tracking_uri(config))
            return 0
        run_study(config, resume=bool(args.resume))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
