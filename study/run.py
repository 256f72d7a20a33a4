"""``python -m study.run``: a hyperparameter study of VAE-family models on Ray Tune + Optuna + MLflow.

The command line: preset, YAML, ``--set`` and flags → one validated
:class:`~study.config.StudyConfig` (errors name the field, before any Ray or MLflow work) →
:func:`study.driver.run_study` (the parent run, the Tuner, the summary).

``--resume NAME`` continues an interrupted study from its folder: unfinished trials resume from
their checkpoints and their own MLflow child runs; nothing is lost or counted twice. With
``--num-trials N`` (the new total) or, in the grid modes, ``--seeds-per-config K`` it extends the
study (:mod:`study.extend`); an option that would change what its trials are is refused first
(:func:`study.config.check_resume`). The saved
``config.yaml`` holds no secret (its ``secrets:`` fields and URI passwords are redacted), so a
resumed study is given those again (``--set trial.data_root=...``, ``--tracking-uri ...``).
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import sys
from typing import Any

import yaml

from analysis.redaction import redact, redact_uri, redacted_paths
from analysis.schema import StudyStatus
from study.config import (
    ConfigError,
    ResourcesConfig,
    SearchConfig,
    SpaceConfig,
    StudyConfig,
    check_resume,
    from_dict,
    load_yaml,
    make_config,
    merge,
    preset_names,
    set_dotted,
)
from study.driver import resolve_tracking_uri, run_study
from study.layout import CONFIG_FILE, TUNE_DIR
from train.config import TrialConfig, field_docs

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
        description="Run a hyperparameter study of VAE-family models (AE, VAE, β-VAE, β-TCVAE, AnnealedVAE, "
                    "FactorVAE, DIP-VAE-I/II; --list-models): Ray Tune schedules the trials, Optuna "
                    "searches (multi-objective), MLflow records them.",
        epilog="Precedence: preset < --config YAML < --set < the options above. "
               "Example: python -m study.run --preset quick --num-trials 4 --steps 300",
    )
    parser.add_argument("--preset", default=None,
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
                        help="Continue the interrupted or finished study NAME from its folder under --root "
                             "with its saved config. Given with it, --num-trials N (search mode: the new "
                             "total) or --seeds-per-config K (grid modes) extends the study; resources, "
                             "--address, --tracking-uri and its redacted secrets may be given; any other "
                             "change is refused, naming it.")
    parser.add_argument("--list-models", action="store_true",
                        help="List the model types with their searched hyperparameters (range, paper grid) "
                             "and other settings, then exit.")
    parser.add_argument("--dry-run", action="store_true",
                        help="Print the resolved config and search space, then exit without running.")
    return parser


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The --set and flag values as a nested mapping."""
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
    return overrides


def config_from_args(args: argparse.Namespace) -> StudyConfig:
    """Preset → --config → --set → flags, validated once at the end."""
    overrides = _overrides(args)
    if "name" not in overrides:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        overrides["name"] = f"{args.preset or 'quick'}-{stamp}"
    overrides.setdefault("root", os.environ.get("BETASWEEP_ROOT", "betasweep-runs"))
    return make_config(args.preset or "quick", args.config, overrides)


def _unredacted(saved: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """The saved config with each redacted value (a ``secrets:`` field, a URI's password) taken
    from the --set / flag values given with --resume; a ConfigError names those still missing."""
    missing = []
    for path in redacted_paths(saved):
        value: Any = given
        for key in path.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        if value is None:
            missing.append(path)
        else:
            saved = set_dotted(saved, path, value)
    if missing:
        raise ConfigError(f"resume: {', '.join(missing)} redacted from the saved config (secrets are never "
                          f"written); give them again, e.g. --set {missing[0]}=VALUE")
    return saved


def resumed_config(args: argparse.Namespace) -> StudyConfig:
    """The saved config of study ``--resume NAME`` with the options given alongside, refused
    (:func:`study.config.check_resume`) if they change what its trials are or shrink it."""
    if args.preset is not None:
        raise ConfigError("resume: --preset cannot be given with --resume; the study keeps its saved config")
    root = args.root or os.environ.get("BETASWEEP_ROOT", "betasweep-runs")
    path = os.path.join(os.path.abspath(root), args.resume, CONFIG_FILE)
    if not os.path.isfile(path):
        raise ConfigError(f"resume: no study {args.resume!r} under {os.path.abspath(root)} "
                          f"({path} missing); check --root and the name")
    given = _overrides(args)
    if args.config:
        given = merge(load_yaml(args.config), given)
    given = {**given, "root": os.path.abspath(root)}  # where the study was found
    saved = _unredacted(load_yaml(path), given)
    saved_config = from_dict(saved)
    config = from_dict(merge(saved, given))
    check_resume(saved_config, config, {path: flag for flag, path, _cls, _kind in _FLAGS})
    return config


def print_plan(config: StudyConfig, tracking_uri: str) -> None:
    """The resolved config, the search space and the time estimate (``--dry-run``)."""
    from study.budget import estimate_lines
    from study.space import describe

    print(yaml.safe_dump(redact(config.to_dict(), config.secrets), sort_keys=False).rstrip())
    print("\n# search space")
    for line in describe(config.space):
        print("#   " + line)
    print(f"# trials: {config.num_trials()}; objectives: {config.objective_directions()}")
    for line in estimate_lines(config):
        print(line)
    print(f"# study folder: {config.study_dir}\n# tracking: {redact_uri(tracking_uri)}", flush=True)


def list_models() -> list[str]:
    """One block per registered model type: its hyperparameters as declared by its class."""
    from models.registry import model_settings
    from train.model_types import model_classes

    lines = []
    for name, cls in model_classes().items():
        lines.append(f"{name}: {(cls.__doc__ or '').strip().splitlines()[0]}")
        for hp in cls.hyperparameters:
            lines.append(f"  {hp.name} ({hp.label}): {'log-uniform' if hp.log else 'uniform'} [{hp.low:g}, "
                         f"{hp.high:g}], default {hp.default:g}, paper grid {list(hp.grid)} — {hp.reference}")
        other = [s for s in model_settings(name) if s not in {hp.name for hp in cls.hyperparameters}]
        if other:
            lines.append(f"  other settings: {', '.join(other)}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; exit 2 on a configuration error (message names the field and the fix)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    config = None
    if args.list_models:
        print("\n".join(list_models()), flush=True)
        return 0
    try:
        if args.resume:
            config = resumed_config(args)
        else:
            config = config_from_args(args)
        if args.dry_run:
            print_plan(config, resolve_tracking_uri(config))
            return 0
        summary = run_study(config, resume=bool(args.resume))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    except Exception as exc:  # the driver's own writes (config, Optuna's storage, Tune's state) on a full disk
        from study.outcome import disk_full, disk_full_message

        if config is None or not disk_full(exc):
            raise
        print(f"error: {disk_full_message(config.name, config.root, exc)}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:  # outside Tune's own handling (starting Ray, the summary)
        from study.outcome import resume_hint

        if config is not None and os.path.isdir(os.path.join(config.study_dir, TUNE_DIR)):
            print("\n" + resume_hint(config.name, config.root), flush=True)
        return 130
    status = summary.get("status")
    return {StudyStatus.FAILED: 1, StudyStatus.INTERRUPTED: 130}.get(status, 0)


if __name__ == "__main__":
    sys.exit(main())
