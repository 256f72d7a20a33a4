"""Which trials, metrics, hyperparameters and axes a tradeoff analysis uses, read from the trial
table alone (MLflow's :func:`analysis.runs.load_runs`, or a per-trial CSV such as
``benchmarks/data/seed-dsprites.csv``); every name and direction comes from :mod:`analysis.schema`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from analysis.runs import FLAG_COLUMNS, OK
from analysis.schema import (
    BOOKKEEPING,
    CATALOGUE,
    CURVE_PREFIX,
    ESTIMATE_PREFIX,
    FINAL_REPORT_KEY,
    KL_DIM_PREFIX,
    METRICS,
    SE_SUFFIX,
    SYSTEM_PREFIX,
    TIMING_PREFIX,
    Source,
    Tag,
    TrialStatus,
    metric_direction,
)

MODEL_TYPE = "model_type"
SEED = "seed"
#: The reconstruction axis comparisons are matched on, and the blur axis of the robust front.
RECON = "recon_error"
BLUR = "blur"
#: The flag of a collapsed trial (outputs that ignore the input).
COLLAPSED = METRICS["collapsed"].name
#: Columns that are never a hyperparameter (ids, times, the seed) besides metrics and flags.
_NOT_KNOBS = {SEED, Tag.OPTUNA_TRIAL, Tag.ATTEMPTS, FINAL_REPORT_KEY, "start_time", "experiment_id", *FLAG_COLUMNS}
_METRIC_PREFIXES = (CURVE_PREFIX, ESTIMATE_PREFIX, KL_DIM_PREFIX, TIMING_PREFIX, SYSTEM_PREFIX)


def completed(df: pd.DataFrame) -> pd.DataFrame:
    """The completed trials: ``ok`` where :func:`load_runs` set it, else ``trial_status`` =
    completed where a CSV carries it, else every row."""
    if OK in df.columns:
        return df[df[OK].astype(bool)].copy()
    if Tag.TRIAL_STATUS in df.columns:
        return df[df[Tag.TRIAL_STATUS].eq(TrialStatus.COMPLETED)].copy()
    return df.copy()


def _has_values(frame: pd.DataFrame, name: str) -> bool:
    return name in frame.columns and pd.to_numeric(frame[name], errors="coerce").notna().any()


def metrics(frame: pd.DataFrame, objectives: Mapping[str, str] | None = None) -> dict[str, str]:
    """Metric → direction of what the analysis reports on: every catalogued score with a better
    side that a study may optimise (reconstruction, blur, shape error, the disentanglement
    scores), study-level scores (UDR) and the study's own objectives, if present in ``frame``."""
    objectives = dict(objectives or {})
    chosen = {m.name: m.direction for m in CATALOGUE if m.direction and (
        (m.source == Source.SCORES and m.objective) or m.source == Source.STUDY or m.name in objectives)}
    chosen.update({k: v for k, v in objectives.items() if k not in chosen})
    return {name: sense for name, sense in chosen.items() if _has_values(frame, name)}


def _is_knob(frame: pd.DataFrame, name: str) -> bool:
    """A numeric column that is a run parameter: not a metric, its SE, bookkeeping or a flag."""
    if name in _NOT_KNOBS or name in METRICS or name in BOOKKEEPING or name.endswith(SE_SUFFIX):
        return False
    if name.startswith(_METRIC_PREFIXES) or name == MODEL_TYPE:
        return False
    column = frame[name]
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def hyperparameters(frame: pd.DataFrame, model_type: str | None = None) -> list[str]:
    """The numeric hyperparameters that vary among ``model_type``'s trials (every type's if None):
    β, γ, C_max, latent_dim, lr…, whichever the study searched."""
    rows = frame if model_type is None else frame[frame[MODEL_TYPE] == model_type]
    return [c for c in frame.columns if _is_knob(frame, c) and rows[c].dropna().nunique() > 1]


def config_keys(frame: pd.DataFrame) -> pd.Series:
    """A configuration per trial: its model type and hyperparameters (every varying one), not its
    seed — e.g. "beta_vae beta=4"."""
    knobs = hyperparameters(frame)

    def key(row) -> str:
        parts = [f"{k}={row[k]:g}" for k in knobs if pd.notna(row[k])]
        return " ".join([str(row[MODEL_TYPE]), *parts])

    return frame.apply(key, axis=1) if len(frame) else pd.Series([], dtype=object)


def seeds_shared(seeds: pd.Series, groups: pd.Series) -> bool:
    """Seeds are shared when some seed value is found in two or more groups (levels of a
    hyperparameter, or model types): then the same seed's trials can be compared with each other."""
    frame = pd.DataFrame({"seed": seeds.to_numpy(), "group": groups.to_numpy()}).dropna()
    return bool(len(frame)) and bool((frame.groupby("seed")["group"].nunique() > 1).any())


def front_axes(frame: pd.DataFrame, objectives: Mapping[str, str] | None = None) -> dict[str, str]:
    """The robust front's two axes and directions: blur (else the study's first objective to
    minimise, else reconstruction error) against the study's main disentanglement objective (its
    first objective that is a disentanglement score, else the first such score of the catalogue
    present in the trials)."""
    objectives = dict(objectives or {})
    present = metrics(frame, objectives)
    x = next((m for m in (BLUR, *(k for k, v in objectives.items() if v == "min"), RECON) if m in present), None)

    def disentangling(name: str) -> bool:
        entry = METRICS.get(name)
        return bool(entry and (entry.needs_factors or entry.without_factors or entry.source == Source.STUDY))

    y = next((m for m in objectives if m in present and m != x and disentangling(m)), None)
    y = y or next((m for m in present if m != x and disentangling(m) and metric_direction(m)), None)
    if x is None or y is None:
        return {}
    return {x: present[x], y: present[y]}


def values(frame: pd.DataFrame, name: str) -> np.ndarray:
    """Column ``name`` as floats (NaN where absent or not a number)."""
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(float)
