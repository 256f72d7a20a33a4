"""Multi-objective asynchronous successive halving (MO-ASHA) as a Ray Tune trial scheduler.

ASHA (Li et al. 2020, "A System for Massively Parallel Hyperparameter Tuning", MLSys) checks a
trial at rungs of its budget, grace·η^k, and lets it continue only if it is among the best 1/η of
the trials seen at that rung. Ray Tune's ``ASHAScheduler`` compares one metric; on a β sweep that
metric is reconstruction, which is exactly what a high β gives up, so it stops the high-β end of
the tradeoff first. MO-ASHA (Schmucker et al. 2021, "Multi-objective Asynchronous Successive
Halving", arXiv:2106.12639) ranks a rung by all objectives instead: non-dominated rank, then, within
a rank, NSGA-II's crowding distance (:func:`analysis.pareto.promotion_order`), so a rung keeps a
spread of the front rather than one end of it.

``rung_levels`` and ``promote_at_rung`` are the pure rule (numpy only, no Ray), reused by search
simulators; :class:`MultiObjectiveASHA` applies it to a running Tune experiment.
"""

from __future__ import annotations

import bisect
import math
import os
from collections.abc import Mapping, Sequence

import numpy as np
from ray.tune.schedulers.trial_scheduler import FIFOScheduler, TrialScheduler

from analysis.pareto import promotion_order
from study.trust import dump_private, load_trusted

#: The scheduler's state file in Tune's driver staging directory (synced with the experiment).
STATE_FILE = "mo_asha_state.pkl"


def rung_levels(grace: int, eta: int, max_t: int) -> list[int]:
    """The rungs, grace·η^k for k = 0, 1, … below ``max_t``: where a trial's fate is decided.

    ``max_t`` itself is not a rung: a trial that gets there has spent its whole budget and
    finishes, so nothing is left to decide (``grace >= max_t`` means no early stopping at all).
    """
    if not (isinstance(eta, int | np.integer) and eta >= 2):
        raise ValueError(f"eta: the reduction factor must be an integer >= 2, got {eta!r}")
    if grace <= 0 or max_t <= 0:
        raise ValueError(f"grace ({grace}) and max_t ({max_t}) must be positive")
    levels, level = [], int(grace)
    while level < max_t:
        levels.append(level)
        level *= int(eta)
    return levels


def _worst_filled(points: np.ndarray, senses: Sequence[str]) -> np.ndarray:
    """``points`` with every missing, NaN or infinite value replaced by a value strictly worse
    than all finite values of its objective (the worst of that objective, not of the trial)."""
    filled = points.copy()
    for j, sense in enumerate(senses):
        column, finite = filled[:, j], np.isfinite(filled[:, j])
        if finite.all():
            continue
        sign = 1.0 if sense == "min" else -1.0
        worst = (column[finite] * sign).max() if finite.any() else 0.0
        span = np.ptp(column[finite]) if finite.any() else 0.0
        column[~finite] = (worst + max(span, 1.0)) * sign
    return filled


def promote_at_rung(new_point, rung_points, senses: Sequence[str], eta: float) -> bool:
    """ASHA's decision at arrival, multi-objective: does a trial arriving at a rung continue?

    The population is the newcomer plus the ``rung_points`` already recorded at the rung, n in
    all. It is ordered by :func:`analysis.pareto.promotion_order` (non-dominated rank, then crowding
    distance, largest first) with the newcomer placed first, so it wins exact ties with incumbents.
    It continues iff its position is < ⌈n/η⌉, i.e. it is in the top 1/η of everything seen at the
    rung so far (the first arrival always continues). A missing, NaN or infinite value counts as
    worse than every finite value of that objective.

    Deciding on a partial rung (Li et al.'s ASHA, Schmucker et al.'s order) keeps stragglers from
    idling the cluster; as in Ray Tune's ASHA, a trial that misses the cut is stopped, not paused.
    """
    new = np.asarray(new_point, dtype=float).reshape(1, -1)
    rung = np.asarray(rung_points, dtype=float).reshape(-1, new.shape[1])
    population = _worst_filled(np.vstack([new, rung]), senses)
    order = promotion_order(population, senses)
    position = int(np.flatnonzero(order == 0)[0])
    return position < math.ceil(len(population) / eta)


class MultiObjectiveASHA(FIFOScheduler):
    """MO-ASHA (Schmucker et al. 2021) as a Tune ``TrialScheduler``: stops a trial at a rung
    unless :func:`promote_at_rung` keeps it, comparing all ``objectives`` at once.

    A trial arrives at a rung with its first result whose ``time_attr`` is >= the rung's level
    and is judged on that result's values (align the report interval with the rungs); a result
    that crosses several rungs is judged at the highest. Results without ``time_attr`` are ignored.
    Each rung keeps the values of every trial that arrived there, stopped or not. Pending trials
    run first come, first served (FIFO, as in Ray's ASHA).

    State survives ``Tuner.restore`` (Tune never saves a scheduler with the experiment): it is
    written to :data:`STATE_FILE` in Tune's synced driver staging directory after each change and
    read back by the first :meth:`on_trial_add` after a restore.

    Args:
        objectives: metric → "min" | "max", all compared at every rung; if None, from
            ``TuneConfig(metric=, mode=)`` via :meth:`set_search_properties`.
        time_attr: monotonically increasing progress key of the results.
        max_t: budget of a trial in ``time_attr`` units.
        grace_period: the first rung; no trial is stopped before it.
        reduction_factor: η; a rung keeps the top ⌈n/η⌉ of its n arrivals.
        stop_last_trials: also STOP a trial on its first result at ``max_t``. Off by default so
            a trainable that evaluates after its last step can still report its final result.
    """

    def __init__(self, objectives: Mapping[str, str] | None = None, *, time_attr: str = "step",
                 max_t: int, grace_period: int, reduction_factor: int = 3, stop_last_trials: bool = False):
        super().__init__()
        self._levels = rung_levels(grace_period, reduction_factor, max_t)
        self._objectives: dict[str, str] = {}
        if objectives:
            self._set_objectives(dict(objectives))
        self._time_attr, self._max_t, self._eta = time_attr, max_t, reduction_factor
        self._stop_last_trials = stop_last_trials
        self._rungs: list[dict[str, tuple[float, ...]]] = [{} for _ in self._levels]
        self._promoted = [0 for _ in self._levels]
        self._next_rung: dict[str, int] = {}
        self._stopped: set[str] = set()
        self._state_file: str | None = None

    def _set_objectives(self, objectives: dict[str, str]) -> None:
        bad = {m: s for m, s in objectives.items() if s not in ("min", "max")}
        if bad:
            raise ValueError(f"objectives: each direction must be 'min' or 'max', got {bad}")
        self._objectives = objectives

    def set_search_properties(self, metric, mode, **spec) -> bool:
        """Objectives from ``TuneConfig(metric=, mode=)`` (a name or a list of names, with a
        direction or a list of them); False, as Ray's schedulers do, if both set them."""
        if not metric and not mode:
            return True
        if self._objectives:
            return False
        metrics = [metric] if isinstance(metric, str) else list(metric or [])
        modes = [mode] * len(metrics) if isinstance(mode, str) else list(mode or [])
        if metrics and len(modes) == len(metrics):
            self._set_objectives(dict(zip(metrics, modes, strict=True)))
        return True

    def on_trial_add(self, tune_controller, trial) -> None:
        if not self._objectives:
            raise ValueError(f"{type(self).__name__}: no objectives; pass objectives={{metric: 'min'|'max'}} "
                             f"or TuneConfig(metric=..., mode=...)")
        if self._state_file is None and getattr(trial, "storage", None) is not None:
            path = os.path.join(trial.storage.experiment_driver_staging_path, STATE_FILE)
            if os.path.exists(path):
                self.restore(path)
            self._state_file = path
        self._next_rung.setdefault(trial.trial_id, 0)

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        """STOP a trial that fails its rung (or that this scheduler stopped before a restore
        brought it back); CONTINUE otherwise, including at ``max_t`` unless ``stop_last_trials``."""
        if trial.trial_id in self._stopped:
            return TrialScheduler.STOP
        t = result.get(self._time_attr)
        if t is None:
            return TrialScheduler.CONTINUE
        if t >= self._max_t:
            return TrialScheduler.STOP if self._stop_last_trials else TrialScheduler.CONTINUE
        rung = self._arrive(trial.trial_id, t)
        if rung is None:
            return TrialScheduler.CONTINUE
        point = self._point(result)
        keep = promote_at_rung(point, list(self._rungs[rung].values()), list(self._objectives.values()),
                               self._eta)
        self._rungs[rung][trial.trial_id] = point
        if keep:
            self._promoted[rung] += 1
        else:
            self._stopped.add(trial.trial_id)
        self._persist()
        return TrialScheduler.CONTINUE if keep else TrialScheduler.STOP

    def on_trial_complete(self, tune_controller, trial, result: dict) -> None:
        """A trial that ends on a result past a rung it was not judged at still counts there."""
        t = (result or {}).get(self._time_attr)
        if t is not None and t < self._max_t and trial.trial_id not in self._stopped:
            rung = self._arrive(trial.trial_id, t)
            if rung is not None:
                self._rungs[rung][trial.trial_id] = self._point(result)
        self._persist()

    def on_trial_remove(self, tune_controller, trial) -> None:
        """A pending or paused trial removed: what it recorded at rungs stays (as in ASHA)."""
        self._persist()

    def _arrive(self, trial_id: str, t: float) -> int | None:
        """Index of the rung this result brings the trial to, or None if it reaches no new one."""
        reached = bisect.bisect_right(self._levels, t)
        if reached <= self._next_rung.get(trial_id, 0):
            return None
        self._next_rung[trial_id] = reached
        return reached - 1

    def _point(self, result: Mapping) -> tuple[float, ...]:
        """The objectives of a result in order; a missing or non-numeric value is NaN (worst)."""
        values = []
        for name in self._objectives:
            try:
                values.append(float(result.get(name, math.nan)))
            except (TypeError, ValueError):
                values.append(math.nan)
        return tuple(values)

    def debug_string(self) -> str:
        rungs = " | ".join(f"{self._time_attr} {level}: {len(rec)} arrived, {kept} continued"
                           for level, rec, kept in zip(self._levels, self._rungs, self._promoted, strict=True))
        return f"Using MultiObjectiveASHA ({', '.join(self._objectives)}): num_stopped={len(self._stopped)}\n{rungs}"

    def save(self, checkpoint_path: str) -> None:
        """Pickle settings and rung records (everything but the state file's location) to
        ``checkpoint_path``, atomically, 0600 (:mod:`study.trust`)."""
        dump_private({k: v for k, v in self.__dict__.items() if k != "_state_file"}, checkpoint_path)

    def restore(self, checkpoint_path: str) -> None:
        """Replace settings and rung records with those :meth:`save` wrote (a file only its owner
        may write: :mod:`study.trust`)."""
        self.__dict__.update(load_trusted(checkpoint_path))

    def _persist(self) -> None:
        if self._state_file is not None:
            self.save(self._state_file)
