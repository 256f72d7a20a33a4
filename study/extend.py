"""Extending a study: more trials for a finished or interrupted one (``--resume NAME --num-trials N``,
or ``--seeds-per-config K`` in the grid modes), in the same Optuna study and MLflow parent run.

A Tune experiment that has created its ``num_samples`` trials creates no more, restored or not. So
a study is a sequence of **stages**, each its own Tune experiment in the study folder (``tune``,
then ``tune-2``, ``tune-3``, ...), listed in order with their trial counts in ``stages.json``; the
study's total (``search.num_trials``, or every configuration × ``space.seeds_per_config``) is their
sum. Only the last stage can be unfinished (a stage is recorded, then started, once the one before
has ended), so a resume restores the last stage and, when the config now asks for more trials than
the stages hold, adds a stage for the difference. A new stage's searcher (:class:`ExtensionSearcher`) attaches to
the study's Optuna study (its storage holds every earlier trial, which the sampler learns from)
and continues it:

* search mode: new Optuna trials; a configuration suggested again gets the seeds after those it
  already has (as within a stage); the sampler is seeded per stage, so a seeded sampler does not
  replay the first stage's suggestions.
* grid modes: for every configuration, one new Optuna trial with its missing seeds (those below
  ``space.seeds_per_config`` that no earlier trial of that configuration ran; Optuna is told the
  mean over the new seeds, the earlier trial keeps its own).
* Tune trial ids (which key the MLflow child runs) are random; an id an earlier stage used is
  never handed out again, so child runs stay one per trial.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from study.config import ConfigError, StudyConfig
from study.layout import OPTUNA_DB
from study.layout import TUNE_DIR as FIRST_STAGE
from study.search import ConfigGroup, OptunaStudySearcher
from study.space import ask_grid_entry

STAGES_FILE = "stages.json"
#: Tune trial folders are named <trainable>_<trial id>_<counter>_...
_TRIAL_DIR = re.compile(r"_([0-9a-f]{8})_\d+_")


@dataclass(frozen=True)
class Stage:
    """One Tune experiment of a study: its folder (in the study folder) and how many trials it runs."""

    tune_dir: str
    trials: int


def load_stages(study_dir: str, saved_trials: int) -> list[Stage]:
    """The study's stages; a study from before stages were recorded is one stage of its saved
    config's ``saved_trials``."""
    path = os.path.join(study_dir, STAGES_FILE)
    if not os.path.isfile(path):
        return [Stage(FIRST_STAGE, saved_trials)]
    with open(path) as handle:
        return [Stage(**entry) for entry in json.load(handle)]


def save_stages(study_dir: str, stages: list[Stage]) -> None:
    """Write ``stages.json`` (atomically: a stage is recorded before its Tune experiment starts)."""
    path = os.path.join(study_dir, STAGES_FILE)
    with open(f"{path}.tmp", "w") as handle:
        json.dump([asdict(stage) for stage in stages], handle, indent=1)
    os.replace(f"{path}.tmp", path)


def plan_stages(config: StudyConfig, resume: bool, saved_trials: int) -> tuple[list[Stage], list[tuple[Stage, bool]]]:
    """All the study's stages, and those to run now in order, each with whether it is restored.

    A new study: its first stage. A resume: the last stage (restored if Tune saved its state; an
    extension stage recorded but never started starts now), then a new stage for the trials the
    config asks for beyond the stages' sum, if any."""
    from ray import tune

    if not resume:
        stage = Stage(FIRST_STAGE, config.num_trials())
        return [stage], [(stage, False)]
    stages = load_stages(config.study_dir, saved_trials)
    last = stages[-1]
    restorable = tune.Tuner.can_restore(os.path.join(config.study_dir, last.tune_dir))
    if not restorable and len(stages) == 1:
        raise ConfigError(f"resume: no restorable study state in {os.path.join(config.study_dir, last.tune_dir)}; "
                          f"check --root and the study name, or start a new study without --resume")
    run = [(last, restorable)]
    extra = config.num_trials() - sum(stage.trials for stage in stages)
    if extra > 0:
        stage = Stage(f"{FIRST_STAGE}-{len(stages) + 1}", extra)
        stages.append(stage)
        run.append((stage, False))
        print(f"[betasweep] study {config.name} extended by {extra} trial(s) to {config.num_trials()} "
              f"(stage {len(stages)}, Tune experiment {stage.tune_dir})", flush=True)
    return stages, run


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def made_seeds(trials: Iterable[Any]) -> dict[str, set[int]]:
    """Configuration (its overrides as JSON) → the seeds Optuna trials ran or hold for it."""
    made: dict[str, set[int]] = {}
    for trial in trials:
        overrides = trial.user_attrs.get("overrides")
        if overrides is not None:
            made.setdefault(_key(overrides), set()).update(int(s) for s in trial.user_attrs.get("seeds", ()))
    return made


def grid_plan(grid: tuple[Mapping[str, Any], ...], seeds_per_config: int,
              made: Mapping[str, set[int]]) -> list[tuple[int, list[int]]]:
    """(grid index, seeds) for each configuration missing some of seeds 0..seeds_per_config-1."""
    plan = []
    for index, entry in enumerate(grid):
        missing = sorted(set(range(seeds_per_config)) - made.get(_key(dict(entry)), set()))
        if missing:
            plan.append((index, missing))
    return plan


def repeats(trials: Iterable[Any]) -> dict[str, int]:
    """Search mode: configuration → how many groups of seeds it has had (the searcher's repeat count)."""
    counts: dict[str, int] = {}
    for trial in trials:
        overrides = trial.user_attrs.get("overrides")
        if overrides is not None and "seed" not in trial.params:
            key = repr(sorted(overrides.items()))
            counts[key] = counts.get(key, 0) + 1
    return counts


def taken_trial_ids(study_dir: str, stages: Iterable[Stage], tracking_uri: str, parent_run_id: str) -> set[str]:
    """Tune trial ids earlier stages used: their trial folders, buffered records, MLflow child runs."""
    from analysis.paging import search_all_runs
    from analysis.schema import Tag
    from study.tracking.client import mlflow_client

    taken = set()
    for stage in stages:
        folder = os.path.join(study_dir, stage.tune_dir)
        names = os.listdir(folder) if os.path.isdir(folder) else []
        taken.update(m.group(1) for m in map(_TRIAL_DIR.search, names) if m)
    buffers = os.path.join(study_dir, "tracking-buffer")
    taken.update(os.listdir(buffers) if os.path.isdir(buffers) else [])
    client = mlflow_client(tracking_uri)
    experiment_id = client.get_run(parent_run_id).info.experiment_id
    runs = search_all_runs(client, [experiment_id], f"tags.{Tag.PARENT_RUN} = '{parent_run_id}'")
    taken.update(r.data.tags[Tag.TRIAL_ID] for r in runs if Tag.TRIAL_ID in r.data.tags)
    return taken


class ExtensionSearcher(OptunaStudySearcher):
    """The searcher of a study's later stage: continues its Optuna study (see the module docstring).

    Args (besides :class:`OptunaStudySearcher`'s):
        taken_ids: Tune trial ids earlier stages used (a suggestion for one is declined; Tune asks
            again under a fresh id).
        plan: grid modes: (grid index, seeds) to run, from :func:`grid_plan`.
        config_runs: search mode: repeat counts of configurations so far, from :func:`repeats`.
    """

    def __init__(self, *args: Any, taken_ids: Iterable[str] = (), plan: list[tuple[int, list[int]]] | None = None,
                 config_runs: Mapping[str, int] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.taken_ids = frozenset(taken_ids)
        self.plan = list(plan or [])
        self._config_runs = dict(config_runs or {})

    def _open_group(self) -> ConfigGroup | None:
        if self.space.mode == "search":
            return super()._open_group()
        if self._grid_next >= len(self.plan):
            return None
        index, seeds = self.plan[self._grid_next]
        grid = self.space.configurations()
        trial = ask_grid_entry(self.study, grid, index)
        self._grid_next += 1
        overrides = dict(grid[index])
        trial.set_user_attr("overrides", overrides)
        trial.set_user_attr("seeds", list(seeds))
        self._live[trial.number] = trial
        group = ConfigGroup(number=trial.number, overrides=overrides, seeds=list(seeds))
        self._groups[group.number] = group
        return group

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if trial_id in self.taken_ids:
            return None
        return super().suggest(trial_id)


def make_searcher(config: StudyConfig, stages: list[Stage], number: int, tracking_uri: str,
                  parent_run_id: str) -> OptunaStudySearcher:
    """The searcher of stage ``number`` (1, 2, ...): Optuna behind Tune's searcher interface, its
    study stored in the study folder; a later stage's continues it (:func:`extension_searcher`)."""
    storage = f"sqlite:///{os.path.join(config.study_dir, OPTUNA_DB)}"
    if number > 1:
        taken = taken_trial_ids(config.study_dir, stages[:number - 1], tracking_uri, parent_run_id)
        return extension_searcher(config, storage, number, taken)
    return OptunaStudySearcher(
        study_name=config.name, storage=storage,
        objectives=config.objective_directions(), space=config.space,
        sampler=config.search.sampler, sampler_seed=config.search.sampler_seed,
        constant_liar=config.search.constant_liar, history_limit=config.search.history_limit,
    )


def extension_searcher(config: StudyConfig, storage: str, stage_number: int, taken_ids: set[str]) -> ExtensionSearcher:
    """The searcher of stage ``stage_number`` (2, 3, ...), planned from the Optuna study's trials."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trials = optuna.load_study(study_name=config.name, storage=storage).get_trials(deepcopy=False)
    space = config.space
    plan = (grid_plan(space.configurations(), space.seeds_per_config, made_seeds(trials))
            if space.mode != "search" else None)
    return ExtensionSearcher(
        study_name=config.name, storage=storage, objectives=config.objective_directions(), space=space,
        sampler=config.search.sampler, sampler_seed=config.search.sampler_seed + 1000 * (stage_number - 1),
        constant_liar=config.search.constant_liar, history_limit=config.search.history_limit,
        taken_ids=taken_ids, plan=plan, config_runs=repeats(trials) if plan is None else None,
    )

