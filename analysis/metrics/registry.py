"""The scorer registry: how ``score_model`` runs the catalogue's scorers (:data:`analysis.catalogue.SCORERS`).

Each scorer is the function ``score(ctx, **sizes) -> dict`` of module ``analysis.metrics.<module>``,
imported only when a preset runs it (the recon preset imports none, so no scikit-learn or scipy:
tests/study/test_lazy_imports.py). It returns the catalogue's names, or a function returning them
once its work started in the background is done (DCI's fits): those are collected after the
other scorers ran, so every score is that of running the scorers one after another.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from analysis.catalogue import SCORERS, Scorer


@dataclass
class Context:
    """What a scorer reads: ``rng`` (one stream for the whole suite, consumed in scorer order);
    ``codes``, the preset's code source of a dataset with factors (None without factors);
    ``data`` and ``represent`` (images → encoder means); the preset's ``bootstrap`` resamples and
    ``batch_size``; ``n_jobs``, independent fits run at once (the scores do not depend on it)."""

    rng: Any
    codes: Any = None
    data: Any = None
    represent: Callable | None = None
    bootstrap: int = 100
    batch_size: int = 64
    n_jobs: int = 1

    def sample(self, num_points: int):
        """(factors, codes) of ``num_points`` draws from the code source."""
        return self.codes.sample(num_points, self.rng)

    def split(self, num_train: int, num_test: int):
        """Train and test points from one draw, so a pool never puts a point in both."""
        factors, c = self.codes.sample(num_train + num_test, self.rng)
        return (factors[:num_train], c[:num_train]), (factors[num_train:], c[num_train:])


def scorer_function(scorer: Scorer) -> Callable[..., Any]:
    """The ``score`` function of ``scorer``'s module (imported now)."""
    module = importlib.import_module(f"analysis.metrics.{scorer.module}")
    return module.score


def plan(sizes: Mapping[str, Mapping[str, int]], reads: str) -> list[tuple[Scorer, Mapping[str, int]]]:
    """The scorers to run, in catalogue order, with their sample sizes: those ``sizes`` names that
    read ``reads`` (``factors`` or ``labels``)."""
    unknown = set(sizes) - {s.module for s in SCORERS}
    if unknown:
        raise ValueError(f"metric preset: no scorer named {', '.join(sorted(unknown))}")
    return [(s, sizes[s.module]) for s in SCORERS if s.module in sizes and s.reads == reads]


def run(steps: list[tuple[Scorer, Mapping[str, int]]], ctx: Context) -> dict:
    """Run the scorers in order on ``ctx``; deferred results are collected at the end, in order."""
    out: dict = {}
    pending = []
    for scorer, sizes in steps:
        result = scorer_function(scorer)(ctx, **sizes)
        if callable(result):
            pending.append(result)
        else:
            out.update(result)
    for finish in pending:
        out.update(finish())
    return out
