"""The robust front: each configuration's seed means on the study's two front axes, their 95%
bootstrap intervals over seeds, and its probability of being on the front — the fraction of seed
resamples in which its means are non-dominated (:func:`analysis.pareto.non_dominated_mask`) among
the configurations present in that resample.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.pareto import non_dominated_mask
from analysis.tradeoff import stats, table


@dataclass
class FrontPoint:
    """One configuration on the robust front's axes."""

    config: str
    model_type: str
    n_trials: int
    n_seeds: int
    means: dict[str, float]
    ci: dict[str, tuple[float, float]]
    p_front: float
    on_front: bool
    """Non-dominated by the means of the full data."""


@dataclass
class RobustFront:
    """The front's axes (metric → direction) and its configurations, most likely on the front first."""

    axes: dict[str, str]
    points: list[FrontPoint]
    n_excluded: int
    """Trials left out: NaN on an axis (a collapsed trial's blur)."""
    draws: int


def _means(values: np.ndarray, config: np.ndarray, n_config: int, weights: np.ndarray) -> np.ndarray:
    """(rows × configurations) weighted means of ``values`` per configuration (NaN if absent)."""
    onehot = np.eye(n_config)[config]
    with np.errstate(invalid="ignore", divide="ignore"):
        return (weights * values) @ onehot / (weights @ onehot)


def robust_front(frame: pd.DataFrame, axes: Mapping[str, str], draws: int,
                 rng: np.random.Generator) -> RobustFront:
    """Seed means, intervals and front probabilities of every configuration of ``frame`` on
    ``axes`` (two metrics → "min"/"max"); seeds are resampled with replacement, each seed's
    trials together, ``draws`` times."""
    names, senses = list(axes), [axes[m] for m in axes]
    points = np.column_stack([table.values(frame, m) for m in names])
    keep = np.isfinite(points).all(axis=1)
    rows, points = frame[keep], points[keep]
    if not len(rows):
        return RobustFront(dict(axes), [], int((~keep).sum()), draws)
    keys = table.config_keys(rows)
    config, labels = pd.factorize(keys)
    seeds = rows[table.SEED].to_numpy() if table.SEED in rows.columns else np.full(len(rows), np.nan)
    codes, n_seeds = stats.seed_codes(seeds)
    weights = np.vstack([np.ones(len(rows)), stats.bootstrap_weights(codes, n_seeds, rng, draws)])
    means = np.stack([_means(points[:, j], config, len(labels), weights) for j in range(len(names))], axis=2)
    on = np.zeros((len(weights), len(labels)), dtype=bool)
    for row in range(len(weights)):
        present = np.isfinite(means[row]).all(axis=1)
        on[row, present] = non_dominated_mask(means[row, present], senses)
    present = np.isfinite(means[1:]).all(axis=2)
    p_front = on[1:].sum(axis=0) / np.maximum(present.sum(axis=0), 1)
    out = []
    for k, label in enumerate(labels):
        members = rows[config == k]
        out.append(FrontPoint(
            config=str(label), model_type=str(members[table.MODEL_TYPE].iloc[0]), n_trials=len(members),
            n_seeds=len(set(codes[config == k])), means={m: float(means[0, k, j]) for j, m in enumerate(names)},
            ci={m: stats.interval(means[1:, k, j]) for j, m in enumerate(names)},
            p_front=float(p_front[k]), on_front=bool(on[0, k])))
    out.sort(key=lambda p: (-p.p_front, p.config))
    return RobustFront(dict(axes), out, int((~keep).sum()), draws)
