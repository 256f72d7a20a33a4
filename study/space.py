"""The search space: what varies from trial to trial.

Define-by-run (Optuna's native form), so the space is conditional: β exists only for the model
types whose objective has a β weight, the learning rate only when a range is configured, the seed
only when it is a searched dimension. Grid mode lists fixed configurations instead (to reproduce a
paper table, e.g. exactly the seed report's four models).

A suggestion is a dict of :class:`study.config.TrialConfig` overrides; the trial's seed is added by
the searcher (repeats of one configuration get seeds 0..K-1).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from study.config import BETA_MODELS, SpaceConfig


def suggest(trial, space: SpaceConfig) -> dict[str, Any]:
    """Ask ``trial`` (an ``optuna.Trial``) for one configuration of ``space``.

    Returns the trial-config overrides. Parameters with a single allowed value are fixed without
    being suggested, so they do not clutter the sampler's space.
    """
    params: dict[str, Any] = {}
    types = list(space.model_types)
    model_type = types[0] if len(types) == 1 else trial.suggest_categorical("model_type", types)
    params["model_type"] = model_type
    if model_type in BETA_MODELS:
        if space.beta_min == space.beta_max:
            params["beta"] = float(space.beta_min)
        else:
            params["beta"] = trial.suggest_float("beta", space.beta_min, space.beta_max, log=True)
    dims = list(space.latent_dims)
    params["latent_dim"] = dims[0] if len(dims) == 1 else trial.suggest_categorical("latent_dim", dims)
    if space.lr_min is not None and space.lr_max is not None:
        params["lr"] = trial.suggest_float("lr", space.lr_min, space.lr_max, log=True)
    if space.seed_as_param and space.seeds_per_config > 1:
        params["seed"] = trial.suggest_int("seed", 0, space.seeds_per_config - 1)
    return params


def grid_distributions(grid: tuple[Mapping[str, Any], ...]) -> dict[str, Any]:
    """Optuna distributions recording grid entries as trial params.

    One categorical per key, over every value that key takes in the grid (Optuna requires a
    parameter's distribution to be the same in every trial of a study); the entry's own value is
    then fixed with ``study.enqueue_trial``.
    """
    from optuna.distributions import CategoricalDistribution

    values: dict[str, list[Any]] = {}
    for entry in grid:
        for key, value in entry.items():
            if value not in values.setdefault(key, []):
                values[key].append(value)
    return {key: CategoricalDistribution(choices) for key, choices in values.items()}


def ask_grid_entry(study, grid: tuple[Mapping[str, Any], ...], index: int):
    """Ask ``study`` for a trial whose params are exactly ``grid[index]``."""
    entry = dict(grid[index])
    distributions = grid_distributions(grid)
    study.enqueue_trial(entry, skip_if_exists=False)
    return study.ask(fixed_distributions={key: distributions[key] for key in entry})


def describe(space: SpaceConfig) -> list[str]:
    """Human-readable lines describing the space (for ``--dry-run`` and the parent run)."""
    if space.mode == "grid":
        lines = [f"grid of {len(space.grid)} configurations x {space.seeds_per_config} seed(s):"]
        lines += [f"  - {dict(entry)}" for entry in space.grid]
        return lines
    lines = [f"model_type  in {list(space.model_types)}"]
    if any(m in BETA_MODELS for m in space.model_types):
        lines.append(f"beta        log-uniform [{space.beta_min:g}, {space.beta_max:g}]  "
                     f"(only for {', '.join(m for m in space.model_types if m in BETA_MODELS)})")
    lines.append(f"latent_dim  in {list(space.latent_dims)}")
    if space.lr_min is not None:
        lines.append(f"lr          log-uniform [{space.lr_min:g}, {space.lr_max:g}]")
    if space.seed_as_param:
        lines.append(f"seed        int [0, {space.seeds_per_config - 1}] (searched)")
    else:
        lines.append(f"seed        0..{space.seeds_per_config - 1} for every configuration (repeats)")
    return lines
