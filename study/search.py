"""A Ray Tune searcher driving an Optuna study through Optuna's public ask/tell interface.

Why not ``ray.tune.search.optuna.OptunaSearch``? Three things a disentanglement study needs do not
fit it (docs/architecture.md, "Ray Tune and Optuna"): trials stopped early by ASHA must reach
Optuna as PRUNED, not as COMPLETE with partial values; a configuration repeated over K seeds must
reach Optuna once, with the seed mean (Tune's ``Repeater`` is single-objective); and resuming must
neither lose nor double-count trials. Owning the ask/tell loop makes each of these a few explicit lines:

* ``suggest`` asks Optuna for a configuration (define-by-run, :func:`study.space.suggest`) and hands
  it out K times with seeds 0..K-1 (one Optuna trial per configuration, one Tune trial per seed);
  a configuration Optuna suggests again gets the next K seeds, never a deterministic re-run.
* ``on_trial_complete`` classifies the Tune trial: completed (its last result is the final one),
  pruned (stopped before its final report), failed (error or divergence). When every seed of a
  configuration has ended, Optuna is told the mean objective values over completed seeds (the
  per-seed values are kept as user attributes), PRUNED if all were pruned, FAIL otherwise.
* The Optuna study lives in an RDB storage (SQLite in the study folder) and is the record that
  ``optuna-dashboard`` and the analysis read. The searcher's own bookkeeping (Tune trial → Optuna
  trial) is saved with Tune's experiment state; on ``Tuner.restore`` it is reloaded and any Optuna
  trial still RUNNING that no restored Tune trial owns (the driver died between ask and launch) is
  marked FAIL, so nothing is counted twice.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ray.tune.search import Searcher

from analysis.schema import FINAL_REPORT_KEY, NEVER_LAUNCHED, Tag, TrialStatus
from study import space as space_mod
from study.config import SpaceConfig
from study.trust import dump_private, load_trusted

log = logging.getLogger(__name__)

#: Keys of the config dict a suggestion produces (read by :mod:`study.trainable`).
OVERRIDES = "overrides"
OPTUNA_TRIAL = Tag.OPTUNA_TRIAL

#: The three outcomes a Tune trial is classified into (a divergence counts as failed).
COMPLETED, PRUNED, FAILED = TrialStatus.COMPLETED, TrialStatus.PRUNED, TrialStatus.FAILED


def make_sampler(name: str, seed: int, constant_liar: bool = True, history_limit: int = 0):
    """The Optuna sampler a config names (multivariate, grouped TPE handles the conditional space).

    ``history_limit`` > 0: TPE sees at most that many finished trials
    (:class:`study.sampler_history.HistoryCappedSampler`). ``constant_liar``: running trials count
    as worse than any finished one, so concurrent suggestions spread out. Optuna's experimental
    warning for ``multivariate``/``group`` (the documented conditional-space search) is silenced here only.
    """
    import warnings

    import optuna

    factories = {
        "tpe": lambda: optuna.samplers.TPESampler(multivariate=True, group=True, seed=seed, n_startup_trials=4,
                                                  constant_liar=constant_liar),
        "nsga2": lambda: optuna.samplers.NSGAIISampler(seed=seed),
        "random": lambda: optuna.samplers.RandomSampler(seed=seed),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = factories[name]()
    if name == "tpe" and history_limit > 0:
        from study.sampler_history import HistoryCappedSampler

        return HistoryCappedSampler(sampler, history_limit)
    return sampler


def classify(result: Mapping[str, Any] | None, error: bool) -> str:
    """How a Tune trial ended, from its last result: completed, pruned or failed."""
    if error or not result:
        return FAILED if error else PRUNED
    if result.get(Tag.TRIAL_STATUS) in (TrialStatus.DIVERGED, TrialStatus.FAILED):
        return FAILED
    if not result.get(FINAL_REPORT_KEY):
        return PRUNED
    return COMPLETED


@dataclass
class ConfigGroup:
    """One Optuna trial: one configuration, run once per seed."""

    number: int
    overrides: dict[str, Any]
    seeds: list[int]
    handed_out: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, tuple[str, list[float] | None]] = field(default_factory=dict)
    told: bool = False

    def has_seed_left(self) -> bool:
        return len(self.handed_out) < len(self.seeds)

    def finished(self) -> bool:
        return not self.has_seed_left() and len(self.outcomes) == len(self.seeds)


class OptunaStudySearcher(Searcher):
    """Multi-objective Optuna search (ask/tell) as a Tune :class:`Searcher`.

    Args:
        study_name: Optuna study name.
        storage: Optuna storage URL, e.g. ``sqlite:////abs/path/optuna.db``.
        objectives: metric name → ``"min"`` | ``"max"``, in order.
        space: the search space (search or grid mode).
        sampler: ``tpe`` | ``nsga2`` | ``random``.
        sampler_seed: seed of the sampler.
        constant_liar: TPE's constant liar for the configurations in flight (see :func:`make_sampler`).
        history_limit: finished trials TPE sees at most (0 = all; see :func:`make_sampler`).
    """

    def __init__(self, study_name: str, storage: str, objectives: Mapping[str, str],
                 space: SpaceConfig, sampler: str = "tpe", sampler_seed: int = 0, constant_liar: bool = True,
                 history_limit: int = 0):
        # No metric/mode for Tune: intermediate reports do not carry the objectives (they exist
        # only at the end), and Tune's strict metric check would reject them.
        super().__init__(metric=None, mode=None)
        self.study_name = study_name
        self.storage = storage
        self.objectives = dict(objectives)
        self.space = space
        self.sampler_name = sampler
        self.sampler_seed = sampler_seed
        self.constant_liar = constant_liar
        self.history_limit = history_limit
        self._groups: dict[int, ConfigGroup] = {}
        self._trial_group: dict[str, int] = {}
        self._grid_next = 0
        self._config_runs: dict[str, int] = {}
        self._study = None
        self._live: dict[int, Any] = {}
        self._storage_error: Exception | None = None

    # -- Optuna study --------------------------------------------------------------------------
    @property
    def study(self):
        """The Optuna study (created in, or loaded from, the RDB storage on first use)."""
        if self._study is None:
            import optuna

            optuna.logging.set_verbosity(optuna.logging.WARNING)
            self._study = optuna.create_study(
                study_name=self.study_name,
                storage=self.storage,
                directions=["minimize" if self.objectives[n] == "min" else "maximize"
                            for n in self.objectives],
                sampler=make_sampler(self.sampler_name, self.sampler_seed, self.constant_liar, self.history_limit),
                load_if_exists=True,
            )
            with warnings.catch_warnings():  # set_metric_names is marked experimental since 3.2
                warnings.simplefilter("ignore")
                self._study.set_metric_names(list(self.objectives))
        return self._study

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        """Tune asks whether metric/mode may be set from outside: ours are fixed by the config."""
        return True

    # -- Tune interface ------------------------------------------------------------------------
    def _open_group(self) -> ConfigGroup | None:
        seeds = list(range(self.space.seeds_per_config))
        if self.space.mode != "search":
            grid = self.space.configurations()
            if self._grid_next >= len(grid):
                return None
            trial = space_mod.ask_grid_entry(self.study, grid, self._grid_next)
            overrides = dict(grid[self._grid_next])
            self._grid_next += 1
        else:
            trial = self.study.ask()
            overrides = space_mod.suggest(trial, self.space)
            if "seed" in overrides:
                seeds = [overrides.pop("seed")]
            else:
                # A configuration suggested again (TPE does this, and an AE with a fixed latent
                # size is a single point) would repeat a deterministic run; give it fresh seeds
                # instead, which turns the repeat into a measurement of seed variance.
                key = repr(sorted(overrides.items()))
                repeat = self._config_runs.get(key, 0)
                self._config_runs[key] = repeat + 1
                seeds = [repeat * len(seeds) + s for s in seeds]
        trial.set_user_attr("overrides", overrides)
        trial.set_user_attr("seeds", seeds)
        self._live[trial.number] = trial
        group = ConfigGroup(number=trial.number, overrides=overrides, seeds=seeds)
        self._groups[group.number] = group
        return group

    def _current_group(self) -> ConfigGroup | None:
        for group in self._groups.values():
            if group.has_seed_left():
                return group
        return self._open_group()

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        """Next configuration: the next seed of an open group, else a new Optuna suggestion."""
        if getattr(self, "_storage_error", None) is not None:  # stop here (resumable), not go on without Optuna
            try:
                self._tell_ended()
            except Exception as exc:
                raise RuntimeError(f"Optuna's storage {self.storage} cannot be written: {exc}") from exc
        group = self._current_group()
        if group is None:
            return Searcher.FINISHED
        seed = group.seeds[len(group.handed_out)]
        group.handed_out[trial_id] = seed
        self._trial_group[trial_id] = group.number
        return {OVERRIDES: {**group.overrides, "seed": seed}, OPTUNA_TRIAL: group.number}

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        """Record how the Tune trial ended; tell Optuna once its whole seed group has ended."""
        number = self._trial_group.get(trial_id)
        if number is None:
            log.warning("trial %s is unknown to the searcher; ignored", trial_id)
            return
        group = self._groups[number]
        outcome = classify(result, error)
        values = None
        if outcome == COMPLETED:
            values = [float(result.get(name, math.nan)) for name in self.objectives]
            if not all(math.isfinite(v) for v in values):
                outcome, values = FAILED, None
        group.outcomes[trial_id] = (outcome, values)
        try:
            self._tell_ended()
        except Exception as exc:  # never out of here: Tune would retry the trial, its limiter lose count
            log.error("Optuna's storage did not take the outcome of trial %s (%s); told when it can be "
                      "(the next suggestion or --resume)", trial_id, exc)
            self._storage_error = exc

    def _tell_ended(self) -> None:
        """Tell Optuna every configuration whose seeds have all ended and that was not told yet."""
        for group in list(self._groups.values()):
            if group.finished() and not group.told:
                self._tell(group)
        self._storage_error = None

    def _tell(self, group: ConfigGroup) -> None:
        from optuna.trial import TrialState

        completed = [v for outcome, v in group.outcomes.values() if outcome == COMPLETED]
        trial_id_seed = {tid: group.handed_out[tid] for tid in group.outcomes}
        per_seed = {str(trial_id_seed[tid]): {"status": o, "values": v}
                    for tid, (o, v) in group.outcomes.items()}
        live = self._live.pop(group.number, None)
        if live is not None:  # per-seed outcomes for optuna-dashboard (lost only across a restore)
            live.set_user_attr("per_seed", per_seed)
        if completed:
            means = [sum(col) / len(col) for col in zip(*completed, strict=True)]
            self.study.tell(group.number, values=means, skip_if_finished=True)
        elif all(o == PRUNED for o, _ in group.outcomes.values()):
            self.study.tell(group.number, state=TrialState.PRUNED, skip_if_finished=True)
        else:
            self.study.tell(group.number, state=TrialState.FAIL, skip_if_finished=True)
        group.told = True

    # -- persistence (Tune experiment state) ---------------------------------------------------
    def save(self, checkpoint_path: str) -> None:
        """Pickle the bookkeeping (the Optuna study itself lives in its storage), 0600
        (:mod:`study.trust`)."""
        state = {"groups": self._groups, "trial_group": self._trial_group, "grid_next": self._grid_next,
                 "config_runs": self._config_runs}
        dump_private(state, checkpoint_path)

    def restore(self, checkpoint_path: str) -> None:
        """Reload the bookkeeping (a file only its owner may write: :mod:`study.trust`), tell Optuna
        the groups that ended but were not told (the driver died, or its disk was full, in between),
        then fail Optuna trials left RUNNING with no Tune trial."""
        state = load_trusted(checkpoint_path)
        self._groups = state["groups"]
        self._trial_group = state["trial_group"]
        self._grid_next = state["grid_next"]
        self._config_runs = state.get("config_runs", {})
        self._storage_error = None
        self._tell_ended()  # ended, but the tell was lost (the driver killed, its disk full)
        self.fail_stale_trials()

    def fail_stale_trials(self) -> list[int]:
        """Mark RUNNING Optuna trials that no known group owns as FAIL; returns their numbers."""
        from optuna.trial import TrialState

        stale = []
        for frozen in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            group = self._groups.get(frozen.number)
            if group is None or not group.handed_out:
                self.study.tell(frozen.number, state=TrialState.FAIL, skip_if_finished=True)
                self._groups.pop(frozen.number, None)
                stale.append(frozen.number)
        if stale:  # said on the study, so an audit can tell them from trials that ran and failed
            known = list(self.study.user_attrs.get(NEVER_LAUNCHED, []))
            self.study.set_user_attr(NEVER_LAUNCHED, sorted({*known, *stale}))
            log.warning("marked stale RUNNING Optuna trials %s as FAIL (never launched)", stale)
        return stale

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_study"] = None
        state["_live"] = {}
        state["_storage_error"] = None
        return state
