"""TPE with a bounded history: a suggestion whose cost stops growing with the study.

Multi-objective TPE does work proportional to the trials a study holds at every suggestion: it
copies and sorts them, rebuilds the grouped search space from all of them, ranks every finished
trial by non-domination to split good from bad, and builds both Parzen estimators with one kernel
per trial (the "good" one from a tenth of the history, uncapped with several objectives). At
10,000 trials that is most of a suggestion (benchmarks/notes/2026-11-27-scale.md).

:class:`HistoryCappedSampler` hands TPE a view of the study that holds at most ``limit`` finished
trials — the best half by non-domination rank (ties: the newer), then the most recent others —
and every running one (the constant liar still sees all configurations in flight). The trials the
good density is built from (the best tenth of what TPE sees) are thus among the study's best, and
the bad density is the rest of the best half plus a window of recent trials. Which trials are
kept is decided once per snapshot of the study (Optuna takes one at each ask and tell), and TPE's
reads go through that snapshot: the study's driver is the only process writing to its Optuna
storage. Up to ``limit`` finished trials TPE suggests exactly what it did without the cap.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import Any

import numpy as np
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState


def kept_numbers(trials: Sequence[FrozenTrial], directions, limit: int) -> set[int] | None:
    """The numbers of the finished ``trials`` TPE keeps — at most ``limit``: the best half by
    non-domination rank (ties: the newer), then the most recent — or None when there are no more
    than ``limit`` (all are kept)."""
    from optuna.study import StudyDirection

    from analysis.pareto import non_dominated_ranks

    finished = [t for t in trials if t.state.is_finished()]
    if len(finished) <= limit:
        return None
    complete = [t for t in finished if t.state == TrialState.COMPLETE and t.values is not None]
    keep: set[int] = set()
    if complete:
        senses = ["min" if d == StudyDirection.MINIMIZE else "max" for d in directions]
        # Optuna accepts ±inf as a value; the ranking wants finite numbers, in the same order.
        values = np.nan_to_num(np.array([t.values for t in complete], dtype=float))
        ranks = non_dominated_ranks(values, senses, n_below=limit // 2)
        order = np.lexsort((-np.array([t.number for t in complete]), ranks))
        keep = {complete[i].number for i in order[:limit // 2]}
    for trial in reversed(finished):
        if len(keep) >= limit:
            break
        keep.add(trial.number)
    return keep


def only_kept(trials: Sequence[FrozenTrial], keep: set[int] | None) -> list[FrozenTrial]:
    """The unfinished ``trials`` and the finished ones numbered in ``keep`` (None: all)."""
    return list(trials) if keep is None else [t for t in trials if not t.state.is_finished() or t.number in keep]


def capped(trials: Sequence[FrozenTrial], directions, limit: int) -> list[FrozenTrial]:
    """At most ``limit`` of the finished ``trials`` (:func:`kept_numbers`) and every unfinished one."""
    return only_kept(trials, kept_numbers(trials, directions, limit))


class _StudyView:
    """The study as the capped sampler's inner sampler sees it: finished trials limited to ``keep``."""

    def __init__(self, study, keep: set[int] | None):
        self._study = study
        self._keep = keep

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(self, deepcopy: bool = True, states: Container[TrialState] | None = None,
                    use_cache: bool = False) -> list[FrozenTrial]:
        return only_kept(self._study._get_trials(deepcopy=deepcopy, states=states, use_cache=True), self._keep)

    def get_trials(self, deepcopy: bool = True, states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        return self._get_trials(deepcopy=deepcopy, states=states)

    @property
    def trials(self) -> list[FrozenTrial]:
        return self.get_trials()


class HistoryCappedSampler(BaseSampler):
    """``sampler`` (TPE) seeing at most ``limit`` finished trials of the study (see the module).

    Which trials is decided once per snapshot of the study (Optuna takes one per ask and tell),
    not at each of TPE's many reads of it."""

    def __init__(self, sampler: BaseSampler, limit: int):
        self.sampler = sampler
        self.limit = limit
        self._snapshot: tuple = ()
        self._keep: set[int] | None = None

    def _view(self, study):
        trials = study._get_trials(deepcopy=False, use_cache=True)
        key = (id(trials), len(trials), sum(t.state.is_finished() for t in trials))
        if key != self._snapshot:
            self._snapshot, self._keep = key, kept_numbers(trials, study.directions, self.limit)
        return _StudyView(study, self._keep)

    def infer_relative_search_space(self, study, trial):
        return self.sampler.infer_relative_search_space(self._view(study), trial)

    def sample_relative(self, study, trial, search_space):
        return self.sampler.sample_relative(self._view(study), trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self.sampler.sample_independent(self._view(study), trial, param_name, param_distribution)

    def before_trial(self, study, trial) -> None:
        self.sampler.before_trial(self._view(study), trial)

    def after_trial(self, study, trial, state, values) -> None:
        self.sampler.after_trial(self._view(study), trial, state, values)

    def reseed_rng(self) -> None:
        self.sampler.reseed_rng()
