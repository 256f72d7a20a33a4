"""What a study shows, by fixed rules: trends of every score over every hyperparameter of each model
type, pairwise comparisons of model types (overall and at matched reconstruction), and the robust
front of configuration means, each with a 95% bootstrap interval over seeds, a permutation p
(within-seed when seeds are shared: common random numbers), Holm's correction per family and the
seeds each finding would need.

Example::

    from analysis.tradeoff import analyse, write
    result = analyse(pd.read_csv("benchmarks/data/seed-dsprites.csv"))
    write(result, "analysis-seed/")      # tradeoff.json, tradeoff.md, tradeoff_front.png/.svg/.csv

Modules: :mod:`.table` (which trials, metrics, hyperparameters, axes), :mod:`.stats` (the pure
statistics), :mod:`.findings` (trends, comparisons, verdicts), :mod:`.power` (seeds needed),
:mod:`.front` (the robust front), :mod:`.render` (JSON, Markdown, figure), :mod:`.claims` (claims
stated in advance, judged from the findings).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd

from analysis.tradeoff import findings as fnd
from analysis.tradeoff import table
from analysis.tradeoff.findings import Finding, Settings
from analysis.tradeoff.front import RobustFront, robust_front

__all__ = ["Analysis", "Finding", "Settings", "analyse", "write", "report_section"]

log = logging.getLogger(__name__)


@dataclass
class Analysis:
    """Everything a tradeoff analysis found, for :mod:`.render`."""

    study: str
    findings: list[Finding]
    front: RobustFront | None
    metrics: dict[str, str]
    settings: Settings
    counts: dict[str, int] = field(default_factory=dict)


def _model_types(frame: pd.DataFrame) -> list[str]:
    from analysis.plots import model_order

    return sorted(frame[table.MODEL_TYPE].dropna().unique(), key=model_order)


def _has(frame: pd.DataFrame, model_type: str, metric: str) -> bool:
    return bool(np.isfinite(table.values(frame[frame[table.MODEL_TYPE] == model_type], metric)).any())


def _trends(frame, types, metrics, settings, rng) -> list[Finding]:
    return [fnd.trend(frame, mt, knob, m, sense, settings, rng)
            for mt in types for knob in table.hyperparameters(frame, mt)
            for m, sense in metrics.items() if _has(frame, mt, m)]


def _comparisons(frame, types, metrics, settings, rng) -> list[Finding]:
    """Every pair (later type in the seed report's order as ``a``), every metric both have,
    overall and, for scores other than reconstruction, at matched reconstruction."""
    out = []
    for b, a in combinations(types, 2):
        for m, sense in metrics.items():
            if not (_has(frame, a, m) and _has(frame, b, m)):
                continue
            out.append(fnd.compare(frame, a, b, m, sense, settings, rng))
            if m != table.RECON and table.RECON in metrics:
                out.append(fnd.compare(frame, a, b, m, sense, settings, rng, matched=table.RECON))
    return out


def analyse(trials: pd.DataFrame | Iterable[Mapping], objectives: Mapping[str, str] | None = None,
            settings: Settings | None = None, study: str = "") -> Analysis:
    """The findings and robust front of a study's trials (a DataFrame from
    :func:`analysis.runs.load_runs`, a per-trial CSV read back, or a list of row dicts): only the
    completed trials count, and a NaN score (a collapsed trial's blur) leaves that trial out of
    that score's findings, counted in ``n_excluded``. ``objectives`` (metric → direction) are the
    study's; they choose the front's axes (:func:`table.front_axes`)."""
    settings = settings or Settings()
    df = trials if isinstance(trials, pd.DataFrame) else pd.DataFrame(list(trials))
    frame = table.completed(df)
    if table.MODEL_TYPE not in frame.columns:
        raise ValueError(f"trials: no {table.MODEL_TYPE} column")
    rng = np.random.default_rng(settings.random_seed)
    metrics = table.metrics(frame, objectives)
    types = _model_types(frame)
    found = _trends(frame, types, metrics, settings, rng) + _comparisons(frame, types, metrics, settings, rng)
    fnd.decide(found, settings.alpha)
    axes = table.front_axes(frame, objectives)
    front = robust_front(frame, axes, settings.bootstrap, rng) if axes else None
    collapsed = int((table.values(frame, table.COLLAPSED) == 1).sum()) if table.COLLAPSED in frame.columns else 0
    counts = {"trials": len(df), "completed": len(frame), "collapsed": collapsed,
              "seeds": int(frame[table.SEED].nunique()) if table.SEED in frame.columns else 0}
    return Analysis(study, found, front, metrics, settings, counts)


def write(result: Analysis, out_dir: str) -> dict[str, str]:
    """tradeoff.json, tradeoff.md, tradeoff_front.csv and the robust front's figure in ``out_dir``."""
    from analysis.tradeoff.render import write_all

    return write_all(result, out_dir)


def report_section(df: pd.DataFrame, objectives, out_dir: str, study: str = "") -> tuple[list[str], dict[str, str]]:
    """The report's section (Markdown lines, headings one level down) and the files written beside it.
    A failure is logged and leaves a line saying how to rerun it: the report, and the study that
    writes it, never fail for it."""
    from analysis.tradeoff.render import markdown, write_all

    try:
        result = analyse(df, objectives, study=study)
        return markdown(result, level=2), write_all(result, out_dir)
    except Exception as exc:
        log.warning("tradeoff analysis failed (%s); run `python -m analysis tradeoff --study %s`", exc, study)
        return ["## What the study shows", "", f"The tradeoff analysis failed ({type(exc).__name__}: {exc}); "
                f"rerun it with `python -m analysis tradeoff --study {study}`.", ""], {}
