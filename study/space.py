"""The search space: what varies from trial to trial.

Define-by-run (Optuna's native form), so the space is conditional: a model type's hyperparameters
exist only when that type is chosen, each as its own Optuna parameter named ``<type>.<name>``
(β-VAE's β and β-TCVAE's β are different knobs on different scales, so the sampler never pools
them), with the range the type declares (:mod:`models.hyperparameters`) unless ``space.ranges``
replaces it; the learning rate only when a range is configured, the seed only when it is a searched
dimension. Grid mode lists fixed configurations instead (e.g. exactly the seed report's four
models); paper-grid mode lists every model type with every value of its declared paper grid.

A suggestion is a dict of :class:`train.config.TrialConfig` overrides where a model type's
hyperparameters go by their own names (``{model_type: beta_vae, beta: 4.2}``, see
:func:`train.coercion.apply_overrides`); the trial's seed is added by the searcher (repeats
of one configuration get seeds 0..K-1).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from study.config import SpaceConfig
from train.model_types import model_classes


def param_name(model_type: str, name: str) -> str:
    """The Optuna parameter of ``model_type``'s hyperparameter ``name``, e.g. ``beta_vae.beta``."""
    return f"{model_type}.{name}"


def suggest(trial, space: SpaceConfig) -> dict[str, Any]:
    """Ask ``trial`` (an ``optuna.Trial``) for one configuration of ``space``.

    Returns the trial-config overrides. Parameters with a single allowed value are fixed without
    being suggested, so they do not clutter the sampler's space.
    """
    params: dict[str, Any] = {}
    types = list(space.model_types)
    model_type = types[0] if len(types) == 1 else trial.suggest_categorical("model_type", types)
    params["model_type"] = model_type
    for hp in model_classes()[model_type].hyperparameters:
        low, high = space.range_of(model_type, hp)
        if low == high:
            params[hp.name] = int(low) if hp.integer else low
        elif hp.integer:
            params[hp.name] = trial.suggest_int(param_name(model_type, hp.name), int(low), int(high), log=hp.log)
        else:
            params[hp.name] = trial.suggest_float(param_name(model_type, hp.name), low, high, log=hp.log)
    dims = list(space.latent_dims)
    params["latent_dim"] = dims[0] if len(dims) == 1 else trial.suggest_categorical("latent_dim", dims)
    if space.lr_min is not None and space.lr_max is not None:
        params["lr"] = trial.suggest_float("lr", space.lr_min, space.lr_max, log=True)
    if space.seed_as_param and space.seeds_per_config > 1:
        params["seed"] = trial.suggest_int("seed", 0, space.seeds_per_config - 1)
    return params


def optuna_params(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A configuration as Optuna params: a model type's settings under ``<type>.<name>``."""
    from train.config import TrialConfig

    fields = set(TrialConfig.__dataclass_fields__)
    model_type = entry.get("model_type")
    return {key if key in fields or model_type is None else param_name(model_type, key): value
            for key, value in entry.items()}


def grid_distributions(grid: tuple[Mapping[str, Any], ...]) -> dict[str, Any]:
    """Optuna distributions recording grid entries as trial params.

    One categorical per key (:func:`optuna_params`), over every value that key takes in the grid
    (Optuna requires a parameter's distribution to be the same in every trial of a study); the
    entry's own value is then fixed with ``study.enqueue_trial``.
    """
    from optuna.distributions import CategoricalDistribution

    values: dict[str, list[Any]] = {}
    for entry in grid:
        for key, value in optuna_params(entry).items():
            if value not in values.setdefault(key, []):
                values[key].append(value)
    return {key: CategoricalDistribution(choices) for key, choices in values.items()}


def ask_grid_entry(study, grid: tuple[Mapping[str, Any], ...], index: int):
    """Ask ``study`` for a trial whose params are exactly ``grid[index]``."""
    entry = optuna_params(grid[index])
    distributions = grid_distributions(grid)
    study.enqueue_trial(entry, skip_if_exists=False)
    return study.ask(fixed_distributions={key: distributions[key] for key in entry})


def describe(space: SpaceConfig) -> list[str]:
    """Human-readable lines describing the space (for ``--dry-run`` and the parent run)."""
    if space.mode != "search":
        entries = space.configurations()
        lines = [f"{space.mode.replace('_', '-')} of {len(entries)} configurations x {space.seeds_per_config} seed(s):"]
        lines += [f"  - {dict(entry)}" for entry in entries]
        return lines
    lines = [f"model_type  in {list(space.model_types)}"]
    for model_type in space.model_types:
        for hp in model_classes()[model_type].hyperparameters:
            low, high = space.range_of(model_type, hp)
            lines.append(f"{param_name(model_type, hp.name):<22} {'log-uniform' if hp.log else 'uniform'} "
                         f"[{low:g}, {high:g}]  (only for {model_type}; paper grid {list(hp.grid)})")
    lines.append(f"latent_dim  in {list(space.latent_dims)}")
    if space.lr_min is not None:
        lines.append(f"lr          log-uniform [{space.lr_min:g}, {space.lr_max:g}]")
    if space.seed_as_param:
        lines.append(f"seed        int [0, {space.seeds_per_config - 1}] (searched)")
    else:
        lines.append(f"seed        0..{space.seeds_per_config - 1} for every configuration (repeats)")
    return lines
